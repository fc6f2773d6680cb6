"""The teaching original's proof of work, as it is: a hash of the string
f"{last_proof}{last_hash}{proof}" must start with four hex zeros. Counts the guesses per
second on one core for a few seconds and prints the rate."""

import hashlib
import sys
import time


def valid_proof(last_proof, last_hash, proof):
    guess = f"{last_proof}{last_hash}{proof}".encode()
    return hashlib.sha256(guess).hexdigest()[:4] == "0000"


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    last_proof, last_hash = 100, "1" * 64
    proof, found = 0, 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(10_000):
            if valid_proof(last_proof, last_hash, proof):
                found += 1
            proof += 1
        if time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    print(f"{proof / elapsed:.0f}")


if __name__ == "__main__":
    main()
