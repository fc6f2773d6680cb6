// The GopherCoin portal: a block explorer, charts, a browser wallet and a miner page, all
// talking to this node's JSON API. Every error the API returns is shown as its message.

import * as gc from "./wallet.js";

const main = document.querySelector("main");
const banner = document.querySelector("#error");
const status = document.querySelector("#status");
const PAGE = 10;
let wallet = null;

class ApiError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

async function api(path, options = {}) {
  const init = { ...options, headers: { "content-type": "application/json" } };
  if (options.body !== undefined) init.body = JSON.stringify(options.body);
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError("unreachable", `the node did not answer: ${e.message}`);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(body.error ?? String(response.status), body.message ?? response.statusText);
  return body;
}

function showError(error) {
  banner.textContent = error.kind ? `${error.kind}: ${error.message}` : error.message;
  banner.hidden = false;
}

function clearError() {
  banner.hidden = true;
  banner.textContent = "";
}

/** Builds an element: el("a", {href: "#/"}, "text", child...). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

const short = (hex, n = 12) => (hex && hex.length > 2 * n ? `${hex.slice(0, n)}…${hex.slice(-6)}` : hex ?? "");
const link = (href, text) => el("a", { href }, text);
const time = (secs) => new Date(secs * 1000).toISOString().replace("T", " ").replace(".000Z", " UTC");
const table = (head, rows) =>
  el("div", { class: "scroll" }, el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))), el("tbody", {}, rows)));

function txRow(tx) {
  const from = tx.type === "reward" ? tx.sender : link(`#/address/${tx.sender}`, short(tx.sender));
  return el("tr", {},
    el("td", {}, link(`#/tx/${tx.id}`, short(tx.id))),
    el("td", {}, tx.type ?? "transfer"),
    el("td", {}, from),
    el("td", {}, link(`#/address/${tx.recipient}`, short(tx.recipient))),
    el("td", { class: "num" }, gc.formatCoins(tx.amount)),
    el("td", { class: "num" }, tx.type === "reward" ? "" : gc.formatCoins(tx.fee ?? 0)));
}

const TX_HEAD = ["id", "type", "from", "to", "coins", "fee"];

// --- views -------------------------------------------------------------------------------

function blockRow(b) {
  return el("tr", { class: "block-row", "data-height": String(b.index) },
    el("td", { class: "num" }, link(`#/block/${b.hash}`, String(b.index))),
    el("td", {}, link(`#/block/${b.hash}`, short(b.hash))),
    el("td", {}, time(b.timestamp)),
    el("td", { class: "num" }, String(b.transactions.length)));
}

function chainHead(health) {
  return el("p", { id: "chain-head" }, `Height ${health.height} · tip `, link(`#/block/${health.tip}`, short(health.tip)), ` · ${health.peers} peer(s)`);
}

function schedule(health) {
  return el("p", { id: "schedule" },
    `Next block mints ${gc.formatCoins(health.reward)} coins plus its fees`,
    health.next_halving !== null ? ` · halves at height ${health.next_halving} (every ${health.halving_interval} blocks)` : " · the reward has halved to zero: fees only",
    ` · supply ${gc.formatCoins(health.supply)} coins · least fee ${health.min_relay_fee} units/byte`);
}

function mempoolSection(transactions) {
  return el("div", { id: "mempool" },
    el("h2", {}, `Mempool (${transactions.length})`),
    transactions.length ? table(TX_HEAD, transactions.map(txRow)) : el("p", {}, "Nothing pending."));
}

async function explorer(page = 0) {
  const health = await api("/health");
  const top = health.height - page * PAGE;
  const from = Math.max(0, top - PAGE + 1);
  const { chain } = await api(`/chain?from=${from}&limit=${top - from + 1}`);
  const [mempool, peers] = await Promise.all([api("/mempool"), api("/nodes/get")]);
  pending = new Map(mempool.transactions.map((tx) => [tx.id, tx]));
  const pager = el("p", { class: "pager" },
    page > 0 ? link(`#/chain/${page - 1}`, "← newer") : null, " ",
    from > 0 ? link(`#/chain/${page + 1}`, "older →") : null);
  return [
    el("h1", {}, "Chain"),
    chainHead(health),
    schedule(health),
    el("div", { id: "blocks" }, table(["height", "hash", "time", "txs"], chain.reverse().map(blockRow))),
    pager,
    mempoolSection(mempool.transactions),
    el("h2", {}, "Peers"),
    peers.nodes.length ? el("ul", {}, peers.nodes.map((p) => el("li", {}, p))) : el("p", {}, "No peers registered."),
  ];
}

async function blockPage(id) {
  const { block, main_chain } = await api(/^\d+$/.test(id) ? `/blocks/height/${id}` : `/blocks/${id}`);
  const field = (name, value) => el("tr", {}, el("th", {}, name), el("td", { class: "mono" }, value));
  return [
    el("h1", {}, `Block ${block.index}`),
    el("div", { class: "scroll" }, el("table", { class: "fields" }, el("tbody", {},
      field("hash", block.hash),
      field("previous", block.index > 0 ? link(`#/block/${block.previous_hash}`, block.previous_hash) : block.previous_hash),
      field("merkle root", block.merkle_root),
      field("time", `${time(block.timestamp)} (${block.timestamp})`),
      field("target", block.target),
      field("nonce", String(block.nonce)),
      field("main chain", main_chain ? "yes" : "no (side branch)")))),
    el("h2", {}, "Transactions"),
    table(TX_HEAD, block.transactions.map(txRow)),
  ];
}

async function txPage(id) {
  const answer = await api(`/transactions/${id}`);
  const tx = answer.transaction;
  const where = answer.status === "confirmed"
    ? ["in block ", link(`#/block/${answer.block}`, String(answer.height)), `, ${answer.confirmations} confirmation(s)`]
    : ["pending in the mempool"];
  return [
    el("h1", {}, "Transaction"),
    el("p", { class: "mono" }, id),
    el("p", {}, `${answer.status}: `, ...where),
    table(TX_HEAD, [txRow({ ...tx, id })]),
  ];
}

async function addressPage(address) {
  const [balance, { chain }] = await Promise.all([api(`/balance/${address}`), api("/chain")]);
  const history = [];
  for (const block of chain.reverse()) {
    for (const tx of block.transactions) {
      if (tx.recipient === address || tx.sender === address) history.push({ block, tx });
    }
  }
  return [
    el("h1", {}, "Address"),
    el("p", { class: "mono wrap" }, address),
    el("p", { class: "balance" }, `Balance: ${gc.formatCoins(balance.balance)} coins`),
    el("h2", {}, "History"),
    history.length
      ? table(["block", "id", "type", "coins", "direction"], history.map(({ block, tx }) => el("tr", {},
          el("td", {}, link(`#/block/${block.hash}`, String(block.index))),
          el("td", {}, link(`#/tx/${tx.id}`, short(tx.id))),
          el("td", {}, tx.type),
          el("td", { class: "num" }, gc.formatCoins(tx.amount)),
          el("td", {}, tx.recipient === address ? "in" : "out"))))
      : el("p", {}, "No transactions yet."),
  ];
}

/** The work a compact target ("2000ffff") asks of a block: the expected number of hashes,
 * 2^256 / target (the node counts 2^256 / (target + 1): the same to a float). */
function work(compact) {
  const bits = parseInt(compact, 16);
  const size = bits >>> 24;
  const mantissa = bits & 0xffffff;
  return 2 ** 256 / (mantissa * 256 ** (size - 3));
}

function chart(title, points, unit) {
  const width = 640, height = 200, pad = 36;
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  const [y0, y1] = [0, Math.max(...ys, 1e-9) * 1.1];
  const sx = (x) => pad + ((x - x0) / (x1 - x0)) * (width - 2 * pad);
  const sy = (y) => height - pad - ((y - y0) / (y1 - y0)) * (height - 2 * pad);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  svg.innerHTML =
    `<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" class="axis"/>` +
    `<line x1="${pad}" y1="${pad / 2}" x2="${pad}" y2="${height - pad}" class="axis"/>` +
    `<text x="${pad}" y="${height - 8}" class="label">${x0}</text>` +
    `<text x="${width - pad}" y="${height - 8}" class="label" text-anchor="end">height ${x1}</text>` +
    `<text x="${pad + 4}" y="${pad / 2 + 10}" class="label">max ${Math.max(...ys).toPrecision(3)} ${unit}</text>` +
    `<polyline class="line" points="${points.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" ")}"/>`;
  return el("figure", {}, el("figcaption", {}, title), svg);
}

async function chartsPage() {
  const { chain } = await api("/chain");
  // Block 1's time since genesis says nothing about mining: intervals start at block 2.
  const blocks = chain.slice(1);
  const mined = blocks.slice(1);
  const gaps = mined.map((b, i) => [b.index, Math.max(0, b.timestamp - blocks[i].timestamp)]);
  // Read off the blocks themselves, so every network's targets and rewards are right.
  const works = blocks.map((b) => [b.index, work(b.target)]);
  const window = 10;
  const rate = mined.map((b, i) => {
    const first = blocks[Math.max(0, i + 1 - window)];
    const span = Math.max(1, b.timestamp - first.timestamp);
    const hashes = mined.slice(Math.max(0, i + 1 - window), i + 1).reduce((sum, x) => sum + work(x.target), 0);
    return [b.index, hashes / span];
  });
  // What each block minted: its reward less the fees it moved from the payers.
  let minted = 0;
  const supply = blocks.map((b) => {
    const [reward, ...transfers] = b.transactions;
    const fees = transfers.reduce((sum, t) => sum + (t.fee ?? 0), 0);
    minted += (reward.amount - fees) / Number(gc.UNITS_PER_COIN);
    return [b.index, minted];
  });
  if (mined.length === 0) return [el("h1", {}, "Charts"), el("p", {}, "Mine a few blocks to see charts.")];
  return [
    el("h1", {}, "Charts"),
    chart("Seconds between blocks", gaps, "s"),
    chart("Expected hashes per block (the work its target asks)", works, "hashes"),
    chart(`Hash rate estimate (last ${window} blocks)`, rate, "H/s"),
    chart("Supply", supply, "coins"),
  ];
}

async function walletPage() {
  if (!gc.cryptoAvailable()) {
    return [
      el("h1", {}, "Wallet"),
      el("p", { class: "warning", id: "insecure" },
        "This browser does not allow WebCrypto on this page, because it was not loaded from a secure context. ",
        "Open the portal over https, or over http on localhost / 127.0.0.1 (for a remote node, tunnel it: ",
        el("code", {}, "ssh -L 5000:127.0.0.1:5000 host"), ", then open http://127.0.0.1:5000/). ",
        "Your keys are made in the page and never sent anywhere, which needs WebCrypto."),
    ];
  }
  const info = el("div", { id: "wallet-info" });
  const render = async () => {
    info.replaceChildren();
    if (!wallet) {
      info.append(el("p", {}, "No wallet on this page yet."));
      return;
    }
    const balance = await api(`/balance/${wallet.address}`);
    info.append(
      el("p", {}, "Address (share it to get paid):"),
      el("p", { class: "mono wrap", id: "wallet-address" }, wallet.address),
      el("p", { class: "balance", id: "wallet-balance" }, `${gc.formatCoins(balance.balance)} coins`),
      el("p", {}, link(`#/address/${wallet.address}`, "history")),
    );
  };
  const generate = el("button", { id: "generate", onclick: () => run(async () => {
    wallet = await gc.Wallet.generate();
    await render();
  }) }, "Create a wallet");
  const importBox = el("textarea", { id: "import-key", rows: 3, placeholder: "hex PKCS#8 private key (gophercoin wallet new writes one)" });
  const importButton = el("button", { id: "import", onclick: () => run(async () => {
    wallet = await gc.Wallet.import(importBox.value);
    importBox.value = "";
    await render();
  }) }, "Import");
  const exported = el("textarea", { id: "exported-key", rows: 3, readonly: "", hidden: "" });
  const exportButton = el("button", { id: "export", onclick: () => run(async () => {
    if (!wallet) throw new Error("create or import a wallet first");
    exported.value = await wallet.exportHex();
    exported.hidden = false;
  }) }, "Export private key");
  const to = el("input", { id: "send-to", placeholder: "recipient address (hex)" });
  const amount = el("input", { id: "send-amount", placeholder: "coins, e.g. 1.5", inputmode: "decimal" });
  const fee = el("input", { id: "send-fee", placeholder: "fee in coins (0 if empty), e.g. 0.00001", inputmode: "decimal" });
  const result = el("p", { id: "send-result", role: "status" });
  const send = el("button", { id: "send", onclick: () => run(async () => {
    if (!wallet) throw new Error("create or import a wallet first");
    const units = gc.parseCoins(amount.value);
    const { chain_id } = await api("/health");
    const feeUnits = fee.value.trim() === "" ? 0n : gc.parseCoins(fee.value);
    const body = await wallet.pay({ chainId: chain_id, recipient: to.value.trim(), units, fee: feeUnits });
    const answer = await api("/transactions/new", { method: "POST", body });
    result.textContent = `${answer.message} (transaction ${short(answer.id)})`;
    await render();
  }) }, "Sign and send");
  await render();
  return [
    el("h1", {}, "Wallet"),
    el("p", {}, "Keys are made and kept in this page (WebCrypto, RSA-2048); only signatures leave it."),
    el("div", { class: "row" }, generate, exportButton),
    info,
    exported,
    el("h2", {}, "Import a key"),
    importBox, importButton,
    el("h2", {}, "Send"),
    to, amount, fee, send, result,
  ];
}

async function minerPage() {
  const result = el("pre", { id: "miner-result", role: "status" });
  const show = (answer) => { result.textContent = answer.message + (answer.index !== undefined ? ` (block ${answer.index})` : ""); };
  const mine = el("button", { id: "mine", onclick: () => run(async () => {
    result.textContent = "mining…";
    show(await api("/mine"));
  }) }, "Mine a block");
  const peer = el("input", { id: "peer-url", placeholder: "http://127.0.0.1:5001" });
  const register = el("button", { id: "register", onclick: () => run(async () => {
    const answer = await api("/nodes/register", { method: "POST", body: { nodes: [peer.value.trim()] } });
    result.textContent = `${answer.message}: ${answer.total_nodes.join(", ")}`;
  }) }, "Register peer");
  const resolve = el("button", { id: "resolve", onclick: () => run(async () => {
    show(await api("/nodes/resolve"));
  }) }, "Resolve");
  return [
    el("h1", {}, "Miner"),
    el("p", {}, "Mines the pending transactions into a block that pays this node's wallet."),
    mine,
    el("h2", {}, "Peers"),
    peer, el("div", { class: "row" }, register, resolve),
    result,
  ];
}

// --- routing -----------------------------------------------------------------------------

async function run(action) {
  clearError();
  try {
    await action();
  } catch (error) {
    showError(error);
  }
}

async function route() {
  const [, view = "", arg = ""] = location.hash.split("/");
  const views = {
    "": () => explorer(0),
    chain: () => explorer(Number(arg) || 0),
    block: () => blockPage(arg),
    tx: () => txPage(arg),
    address: () => addressPage(arg),
    charts: chartsPage,
    wallet: walletPage,
    miner: minerPage,
  };
  await run(async () => {
    const content = await (views[view] ?? views[""])();
    main.replaceChildren(...content);
  });
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("current", a.getAttribute("href") === `#/${view}`);
  }
}

// --- live updates ----------------------------------------------------------------------
// The node pushes what happens (GET /events, Server-Sent Events); nothing is polled. The
// page subscribes before it draws, so nothing happens unseen in between, and takes the
// events one at a time, in order. The explorer's first page takes in only what is new:
// the new blocks, the new pending transactions, those that left the mempool. A
// reorganisation, or events missed while disconnected, redraw the view.

/** Pending transactions the explorer shows, by id. */
let pending = new Map();
let height = null;
let live = false;
/** Each event's work starts when the one before it has finished. */
let queue = Promise.resolve();
const enqueue = (work) => { queue = queue.then(work).catch(showError); };

function showStatus() {
  status.textContent = `${height === null ? "" : `height ${height} · `}${live ? "live" : "reconnecting…"}`;
}

const onFirstPage = () => ["", "chain"].includes(location.hash.split("/")[1] ?? "") && !(Number(location.hash.split("/")[2]) > 0);

const showMempool = () => document.querySelector("#mempool")?.replaceWith(mempoolSection([...pending.values()]));

async function newTip(tip) {
  height = tip.height;
  showStatus();
  const [, view = ""] = location.hash.split("/");
  if (view === "charts") return route();
  const body = document.querySelector("#blocks tbody");
  if (!onFirstPage() || !body) return;
  const top = () => Number(body.querySelector(".block-row")?.dataset.height ?? -1);
  const shown = top();
  if (tip.height <= shown) return;
  if (tip.height - shown > PAGE) return route();
  const [{ chain }, health] = await Promise.all([
    api(`/chain?from=${shown + 1}&limit=${tip.height - shown}`),
    api("/health"),
  ]);
  const fresh = chain.filter((block) => block.index > top());
  body.prepend(...fresh.reverse().map(blockRow));
  while (body.children.length > PAGE) body.lastElementChild.remove();
  document.querySelector("#chain-head")?.replaceWith(chainHead(health));
  document.querySelector("#schedule")?.replaceWith(schedule(health));
  for (const block of chain) for (const tx of block.transactions) pending.delete(tx.id);
  showMempool();
}

async function newTransaction({ id }) {
  if (!onFirstPage() || !document.querySelector("#mempool") || pending.has(id)) return;
  const { transaction, status: state } = await api(`/transactions/${id}`);
  if (state !== "pending") return;
  pending.set(id, transaction);
  showMempool();
}

async function droppedTransaction({ id }) {
  if (pending.delete(id)) showMempool();
}

let drawn = false;

function follow() {
  const source = new EventSource("/events");
  const draw = () => { if (!drawn) { drawn = true; enqueue(route); } };
  const handle = (name, action) =>
    source.addEventListener(name, (event) => enqueue(() => action(JSON.parse(event.data))));
  source.addEventListener("open", () => { live = true; showStatus(); draw(); });
  source.addEventListener("error", () => {
    live = false;
    showStatus();
    draw();
    // The browser retries by itself unless the node refused the stream (429, 503): then
    // a new one, a little later.
    if (source.readyState === EventSource.CLOSED) setTimeout(follow, 5000);
  });
  handle("tip", newTip);
  handle("transaction", newTransaction);
  handle("transaction_dropped", droppedTransaction);
  handle("block_disconnected", () => route());
  handle("reset", () => route());
  window.gophercoinEvents = source; // for tests
}

window.addEventListener("hashchange", () => enqueue(route));
window.gophercoin = gc; // for the console, and for tests
// Amounts are shown in coins as the node counts them, before anything is drawn.
enqueue(async () => gc.setUnitsPerCoin((await api("/health")).units_per_coin));
follow();
