"""A minimal Flask node with the teaching original's routes and algorithms, as a baseline
for benchmarks (see shared ORIGINAL.md): the proof of work is
sha256(f"{last_proof}{last_hash}{proof}") starting with "0000", a block's hash is the
SHA-256 of its sorted JSON, a transaction is checked with RSA PKCS#1 v1.5 over SHA-1 of
str(OrderedDict(sender, recipient, amount)), and the reward (20, to the node's id) is
appended last. Run: python flask_node.py PORT"""

import binascii
import hashlib
import json
import sys
from collections import OrderedDict
from time import time
from uuid import uuid4

from Crypto.Hash import SHA
from Crypto.PublicKey import RSA
from Crypto.Signature import PKCS1_v1_5
from flask import Flask, jsonify, request

MINING_SENDER = "GOPHER COIN"
MINING_REWARD = 20


class Blockchain:
    def __init__(self):
        self.transactions = []
        self.chain = []
        self.nodes = set()
        self.node_id = str(uuid4()).replace("-", "")
        self.create_block(0, "00")

    def create_block(self, proof, previous_hash):
        block = {
            "index": len(self.chain) + 1,
            "timestamp": time(),
            "transactions": self.transactions,
            "proof": proof,
            "previous_hash": previous_hash,
        }
        self.transactions = []
        self.chain.append(block)
        return block

    @staticmethod
    def hash(block):
        return hashlib.sha256(json.dumps(block, sort_keys=True).encode()).hexdigest()

    @staticmethod
    def valid_proof(last_proof, last_hash, proof):
        return hashlib.sha256(f"{last_proof}{last_hash}{proof}".encode()).hexdigest()[:4] == "0000"

    def proof_of_work(self, last_block):
        last_proof, last_hash, proof = last_block["proof"], self.hash(last_block), 0
        while not self.valid_proof(last_proof, last_hash, proof):
            proof += 1
        return proof

    @staticmethod
    def verify_transaction_signature(sender, signature, transaction):
        public_key = RSA.importKey(binascii.unhexlify(sender))
        verifier = PKCS1_v1_5.new(public_key)
        digest = SHA.new(str(transaction).encode("utf8"))
        return verifier.verify(digest, binascii.unhexlify(signature))

    def submit_transaction(self, sender, recipient, amount, signature):
        transaction = OrderedDict({"sender": sender, "recipient": recipient, "amount": amount})
        if sender == MINING_SENDER:
            self.transactions.append(transaction)
            return len(self.chain) + 1
        if self.verify_transaction_signature(sender, signature, transaction):
            self.transactions.append(transaction)
            return len(self.chain) + 1
        return False


app = Flask(__name__)
blockchain = Blockchain()


@app.route("/chain", methods=["GET"])
def full_chain():
    return jsonify({"chain": blockchain.chain, "length": len(blockchain.chain)}), 200


@app.route("/mine", methods=["GET"])
def mine():
    last_block = blockchain.chain[-1]
    proof = blockchain.proof_of_work(last_block)
    blockchain.submit_transaction(MINING_SENDER, blockchain.node_id, MINING_REWARD, "")
    block = blockchain.create_block(proof, blockchain.hash(last_block))
    return jsonify({
        "message": "New Block Forged!",
        "index": block["index"],
        "transactions": block["transactions"],
        "proof": block["proof"],
        "previous_hash": block["previous_hash"],
    }), 200


@app.route("/transactions/new", methods=["POST"])
def new_transaction():
    values = request.get_json()
    if not all(k in values for k in ["sender", "recipient", "amount", "signature"]):
        return " Missing values", 400
    index = blockchain.submit_transaction(values["sender"], values["recipient"], values["amount"], values["signature"])
    if index is False:
        return jsonify({"message": "Invalid Transaction!"}), 406
    return jsonify({"message": f"Transaction will be added to Block {index}"}), 201


@app.route("/transactions/get", methods=["GET"])
def get_transactions():
    return jsonify({"transactions": blockchain.transactions}), 200


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
