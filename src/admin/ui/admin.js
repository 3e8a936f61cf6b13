// The admin page: asks for the admin token once (kept in sessionStorage, sent only as a bearer
// header, never in a URL), then polls /admin/api/stats every second for the charts and panels,
// and pages through /admin/api/channels. Rotate and delete go through /admin/channel/*.
import { format, renderCharts } from "./_charts.js";

const TOKEN_KEY = "pushserver.adminToken";
const POLL_MS = 1000;
const PAGE_SIZE = 50;

/** @type {(id: string) => HTMLElement} */
const $ = (id) => {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`#${id} is missing`);
  return element;
};

let token = sessionStorage.getItem(TOKEN_KEY);
let pollTimer = 0;
/** Cursors of the pages before the current one (the first page's is ""). */
let cursors = [""];
let nextCursor = null;
let selected = null;
let confirmAction = null;

class Refused extends Error {}

async function api(path, init = {}) {
  const response = await fetch(path, {
    ...init,
    headers: { ...init.headers, authorization: `Bearer ${token}` },
    cache: "no-store",
    credentials: "omit",
  });
  if (response.status === 401) throw new Refused("The admin token was refused");
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body?.data?.errorDetails ?? `${response.status} ${response.statusText}`);
  }
  return body;
}

function setStatus(text) {
  $("status").textContent = text;
}

// --- sign in / out ---------------------------------------------------------------------------

function showLogin(error) {
  clearInterval(pollTimer);
  $("app").hidden = true;
  $("logout").hidden = true;
  $("mode").hidden = true;
  $("login-view").hidden = false;
  const message = $("login-error");
  message.hidden = error === undefined;
  message.textContent = error ?? "";
  $("token").focus();
}

async function signIn(candidate) {
  token = candidate;
  try {
    const stats = await api("/admin/api/stats");
    sessionStorage.setItem(TOKEN_KEY, candidate);
    $("login-view").hidden = true;
    $("app").hidden = false;
    $("logout").hidden = false;
    render(stats);
    await loadChannels();
    pollTimer = setInterval(poll, POLL_MS);
  } catch (error) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin(error instanceof Refused ? "That admin token was refused." : String(error.message));
  }
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($("token"));
  const value = input.value;
  input.value = "";
  void signIn(value);
});

$("logout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  token = null;
  showLogin(undefined);
});

// --- live charts -----------------------------------------------------------------------------

async function poll() {
  try {
    render(await api("/admin/api/stats"));
  } catch (error) {
    if (error instanceof Refused) return showLogin("The admin token is no longer accepted.");
    setStatus(`Could not refresh: ${error.message}`);
  }
}

function render(stats) {
  renderCharts(stats, $("charts"));
  renderNodes(stats);
  renderWebhooks(stats.webhooks);
}

function renderNodes(stats) {
  const clustered = stats.mode === "cluster";
  $("mode").hidden = false;
  $("mode").textContent = clustered
    ? `Cluster mode: ${stats.nodes.length} node${stats.nodes.length === 1 ? "" : "s"}`
    : "Single-node mode";
  $("nodes-panel").hidden = !clustered;
  if (!clustered) return;
  const rows = stats.nodes.map((node) => {
    const row = document.createElement("tr");
    const seen = node.lastHeartbeat === undefined
      ? "—"
      : `${Math.max(0, Math.round((Date.now() - node.lastHeartbeat) / 1000))} s ago`;
    for (
      const [text, numeric] of [
        [node.id, false],
        [format(node.connections), true],
        [format(node.subscriptions), true],
        [node.redis ?? "—", false],
        [seen, false],
      ]
    ) {
      const cell = document.createElement("td");
      cell.textContent = String(text);
      if (numeric) cell.className = "num";
      row.append(cell);
    }
    return row;
  });
  $("nodes").replaceChildren(...rows);
}

function renderWebhooks(webhooks) {
  $("webhooks-panel").hidden = webhooks === undefined;
  if (webhooks === undefined) return;
  facts($("webhooks"), [
    ["Queued events", format(webhooks.queued ?? 0)],
    [
      "Last delivery",
      webhooks.lastDelivery == null ? "none yet" : new Date(webhooks.lastDelivery).toISOString(),
    ],
    ["Failures", format(webhooks.failures ?? 0)],
  ]);
}

function facts(list, pairs) {
  list.replaceChildren(...pairs.flatMap(([term, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    return [dt, dd];
  }));
}

// --- channels --------------------------------------------------------------------------------

async function loadChannels() {
  const prefix = /** @type {HTMLInputElement} */ ($("prefix")).value;
  const cursor = cursors.at(-1) ?? "";
  const query = new URLSearchParams({ prefix, limit: String(PAGE_SIZE) });
  if (cursor !== "") query.set("cursor", cursor);
  try {
    const page = await api(`/admin/api/channels?${query}`);
    nextCursor = page.next;
    const rows = page.channels.map((channel) => {
      const row = document.createElement("tr");
      const nameCell = document.createElement("td");
      const open = document.createElement("button");
      open.type = "button";
      open.className = "link";
      open.textContent = channel.channel;
      open.addEventListener("click", () => void openChannel(channel.channel));
      nameCell.append(open);
      const subscribers = document.createElement("td");
      subscribers.className = "num";
      subscribers.textContent = format(channel.subscribers);
      const pushes = document.createElement("td");
      pushes.className = "num";
      pushes.textContent = format(channel.pushesPerMinute ?? 0);
      const flags = document.createElement("td");
      for (const flag of ["private", "history", "presence"]) {
        if (!channel[flag]) continue;
        const tag = document.createElement("span");
        tag.className = "flag";
        tag.textContent = flag;
        flags.append(tag);
      }
      row.append(nameCell, subscribers, pushes, flags);
      return row;
    });
    if (rows.length === 0) {
      const row = document.createElement("tr");
      const cell = document.createElement("td");
      cell.colSpan = 4;
      cell.textContent = prefix === "" ? "No channels yet." : `No channel starts with "${prefix}".`;
      row.append(cell);
      rows.push(row);
    }
    $("channels").replaceChildren(...rows);
    $("page-info").textContent = `Page ${cursors.length}`;
    /** @type {HTMLButtonElement} */ ($("prev")).disabled = cursors.length === 1;
    /** @type {HTMLButtonElement} */ ($("next")).disabled = nextCursor === null;
  } catch (error) {
    if (error instanceof Refused) return showLogin("The admin token is no longer accepted.");
    setStatus(`Could not list channels: ${error.message}`);
  }
}

let searchTimer = 0;
$("prefix").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    cursors = [""];
    void loadChannels();
  }, 200);
});
$("search").addEventListener("submit", (event) => {
  event.preventDefault();
  cursors = [""];
  void loadChannels();
});
$("next").addEventListener("click", () => {
  if (nextCursor === null) return;
  cursors.push(nextCursor);
  void loadChannels();
});
$("prev").addEventListener("click", () => {
  if (cursors.length > 1) cursors.pop();
  void loadChannels();
});

// --- channel detail --------------------------------------------------------------------------

async function openChannel(name) {
  try {
    const channel = await api(`/admin/api/channel?${new URLSearchParams({ name })}`);
    selected = channel.channel;
    $("detail-name").textContent = channel.channel;
    const history = channel.historySettings;
    facts($("detail-facts"), [
      ["Subscribers", format(channel.subscribers)],
      ["Pushes per minute", format(channel.pushesPerMinute ?? 0)],
      ["Private", channel.private ? "yes" : "no"],
      ["Presence", channel.presence ? "yes" : "no"],
      [
        "History",
        history === null ? "off" : `${history.size} pushes, ${history.ttlSeconds} s`,
      ],
      ["Top offset", channel.offset === null ? "—" : String(channel.offset)],
      ["Epoch", channel.epoch],
      ["Created", new Date(channel.createdAt).toISOString()],
    ]);
    const members = channel.members;
    const items = (members?.members ?? []).map((member) => {
      const item = document.createElement("li");
      item.textContent = `${member.uuid} ${JSON.stringify(member.info ?? {})}`;
      return item;
    });
    $("members").replaceChildren(...items);
    $("members-empty").textContent = !channel.presence
      ? "This channel does not track presence."
      : members === undefined
      ? "This server does not report presence members."
      : items.length === 0
      ? "Nobody is here."
      : `${members.count} member${members.count === 1 ? "" : "s"}${
        members.truncated ? " (list truncated)" : ""
      }`;
    $("new-token-box").hidden = true;
    $("detail").hidden = false;
    $("detail").focus();
  } catch (error) {
    if (error instanceof Refused) return showLogin("The admin token is no longer accepted.");
    setStatus(`Could not open ${name}: ${error.message}`);
  }
}

$("close-detail").addEventListener("click", () => {
  $("detail").hidden = true;
  selected = null;
});

function confirm(text, action) {
  $("confirm-text").textContent = text;
  confirmAction = action;
  /** @type {HTMLDialogElement} */ ($("confirm")).showModal();
  $("confirm-no").focus();
}

$("confirm-no").addEventListener("click", () => {
  confirmAction = null;
  /** @type {HTMLDialogElement} */ ($("confirm")).close();
});
$("confirm-yes").addEventListener("click", () => {
  const action = confirmAction;
  confirmAction = null;
  /** @type {HTMLDialogElement} */ ($("confirm")).close();
  if (action !== null) void action();
});

function adminAction(path, channel) {
  return api(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ channel }),
  });
}

$("rotate").addEventListener("click", () => {
  const channel = selected;
  if (channel === null) return;
  confirm(`Give "${channel}" a new token? The current token stops working at once.`, async () => {
    try {
      const answer = await adminAction("/admin/channel/rotate", channel);
      const input = /** @type {HTMLInputElement} */ ($("new-token"));
      input.value = answer.data.channelToken;
      $("copy-status").textContent = "";
      $("new-token-box").hidden = false;
      input.focus();
      input.select();
      setStatus(`The token of "${channel}" was rotated.`);
    } catch (error) {
      setStatus(`Could not rotate: ${error.message}`);
    }
  });
});

$("copy-token").addEventListener("click", async () => {
  const input = /** @type {HTMLInputElement} */ ($("new-token"));
  try {
    await navigator.clipboard.writeText(input.value);
    $("copy-status").textContent = "Copied.";
  } catch {
    input.select();
    $("copy-status").textContent = "Select and copy it by hand (the clipboard is not available).";
  }
});

$("delete").addEventListener("click", () => {
  const channel = selected;
  if (channel === null) return;
  confirm(`Delete "${channel}"? Its subscribers are told, and its history is gone.`, async () => {
    try {
      await adminAction("/admin/channel/delete", channel);
      $("detail").hidden = true;
      selected = null;
      setStatus(`"${channel}" was deleted.`);
      await loadChannels();
    } catch (error) {
      setStatus(`Could not delete: ${error.message}`);
    }
  });
});

// --- start -----------------------------------------------------------------------------------

if (token === null) showLogin(undefined);
else void signIn(token);
