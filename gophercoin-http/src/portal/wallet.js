// GopherCoin in the browser: the canonical transaction encoding and an RSA wallet on
// WebCrypto. The bytes signed here are exactly the bytes gophercoin-core signs
// (`Transaction::signing_bytes`): a domain tag, then the fields in postcard's encoding
// (unsigned LEB128 integers, length-prefixed byte strings). The private key never leaves
// this page unless you export it.

const TX_TAG = new TextEncoder().encode("gophercoin/tx/v2\0");
const ALGORITHM = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
/** Units in one coin: the node's (`units_per_coin` in /health), set by `setUnitsPerCoin`. */
export let UNITS_PER_COIN = 100000000n;
let decimals = 8;

/** Takes the node's units per coin (a power of ten) for `parseCoins` and `formatCoins`. */
export function setUnitsPerCoin(units) {
  const n = BigInt(units);
  const digits = n.toString().length - 1;
  if (n <= 0n || 10n ** BigInt(digits) !== n) {
    throw new Error(`the node's units per coin, ${units}, is not a power of ten`);
  }
  UNITS_PER_COIN = n;
  decimals = digits;
}

/** Whether this page can use WebCrypto (only in secure contexts: https, or http on localhost). */
export function cryptoAvailable() {
  return globalThis.isSecureContext === true && globalThis.crypto?.subtle !== undefined;
}

export function bytesToHex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function hexToBytes(hex) {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || /[^0-9a-f]/i.test(hex)) {
    throw new Error("not an even number of hex digits");
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Unsigned LEB128, as postcard writes u32 and u64. */
function varint(value) {
  let n = BigInt(value);
  if (n < 0n) throw new Error("negative integer");
  const out = [];
  do {
    let byte = Number(n & 0x7fn);
    n >>= 7n;
    if (n !== 0n) byte |= 0x80;
    out.push(byte);
  } while (n !== 0n);
  return out;
}

/**
 * The canonical bytes of a transaction `{chain_id, sender, recipient, amount, fee, nonce}`
 * (sender and recipient as hex DER public keys; a missing fee is 0).
 */
export function signingBytes(tx) {
  const out = [...TX_TAG, ...varint(tx.chain_id)];
  for (const key of [tx.sender, tx.recipient]) {
    const bytes = hexToBytes(key);
    out.push(...varint(bytes.length), ...bytes);
  }
  out.push(...varint(tx.amount), ...varint(tx.fee ?? 0), ...varint(tx.nonce));
  return new Uint8Array(out);
}

/** Parses "5", "0.25" or "12.00000001" coins into units (a BigInt), or throws. */
export function parseCoins(text) {
  const match = new RegExp(`^\\s*(\\d*)(?:\\.(\\d{0,${decimals}}))?\\s*$`).exec(text ?? "");
  if (!match || (match[1] === "" && (match[2] ?? "") === "")) {
    throw new Error(`an amount of coins with at most ${decimals} decimals, like 5 or 0.25`);
  }
  return BigInt(match[1] || "0") * UNITS_PER_COIN + BigInt((match[2] ?? "").padEnd(decimals, "0") || "0");
}

export function formatCoins(units) {
  const n = BigInt(units);
  const whole = n / UNITS_PER_COIN;
  return decimals === 0 ? `${whole}` : `${whole}.${(n % UNITS_PER_COIN).toString().padStart(decimals, "0")}`;
}

/** A wallet: a WebCrypto private key and its address (hex SPKI). */
export class Wallet {
  constructor(privateKey, address) {
    this.privateKey = privateKey;
    this.address = address;
  }

  /** Makes a new RSA-2048 key pair with exponent 65537. */
  static async generate() {
    const pair = await crypto.subtle.generateKey(
      { ...ALGORITHM, modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]) },
      true,
      ["sign", "verify"],
    );
    const spki = await crypto.subtle.exportKey("spki", pair.publicKey);
    return new Wallet(pair.privateKey, bytesToHex(spki));
  }

  /** Imports a hex PKCS#8 private key, as `gophercoin wallet new` writes it. */
  static async import(pkcs8Hex) {
    const privateKey = await crypto.subtle.importKey("pkcs8", hexToBytes(pkcs8Hex.trim()), ALGORITHM, true, ["sign"]);
    const jwk = await crypto.subtle.exportKey("jwk", privateKey);
    const publicKey = await crypto.subtle.importKey(
      "jwk", { kty: "RSA", n: jwk.n, e: jwk.e, alg: "RS256", ext: true }, ALGORITHM, true, ["verify"],
    );
    return new Wallet(privateKey, bytesToHex(await crypto.subtle.exportKey("spki", publicKey)));
  }

  /** The private key as hex PKCS#8, for `gophercoin send --key` or another browser. */
  async exportHex() {
    return bytesToHex(await crypto.subtle.exportKey("pkcs8", this.privateKey));
  }

  /** Signs a payment; returns the body for `POST /transactions/new`. */
  async pay({ chainId, recipient, units, fee = 0n, nonce = randomNonce() }) {
    const tx = { chain_id: chainId, sender: this.address, recipient, amount: units.toString(), fee: fee.toString(), nonce };
    const signature = await crypto.subtle.sign(ALGORITHM, this.privateKey, signingBytes(tx));
    return {
      chain_id: chainId,
      sender: this.address,
      recipient,
      amount: Number(units),
      fee: Number(fee),
      nonce,
      signature: bytesToHex(signature),
    };
  }
}

/** A random nonce below 2^53, so that it survives JSON numbers exactly. */
export function randomNonce() {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return (words[0] & 0x1fffff) * 0x100000000 + words[1];
}

/** Checks a signed transaction's signature (either JSON shape) as the node would. */
export async function verifyTransaction(signed) {
  const tx = signed.transaction ?? signed;
  const key = await crypto.subtle.importKey("spki", hexToBytes(tx.sender), ALGORITHM, false, ["verify"]);
  return crypto.subtle.verify(ALGORITHM, key, hexToBytes(signed.signature), signingBytes(tx));
}
