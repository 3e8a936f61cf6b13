/**
 * The `/demo` page's script: subscribe with the client module, push with a typed-in token. On
 * history channels each push shows its offset, and after a reconnect a badge per channel says
 * whether the pushes missed meanwhile were recovered.
 * Runs in browsers only; no build step. `?ws=` overrides the WebSocket URL and `?channel=`
 * presets the channel.
 */
import { PushClient } from "./pushserver.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const wsPort = document.querySelector('meta[name="pushserver-ws-port"]')?.content || "5222";
const scheme = location.protocol === "https:" ? "wss" : "ws";
const wsUrl = params.get("ws") ?? `${scheme}://${location.hostname}:${wsPort}`;
const presetChannel = params.get("channel");
if (presetChannel) $("subscribe-channel").value = $("push-channel").value = presetChannel;
$("ws-url").textContent = wsUrl;

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

function showSubscriptions() {
  $("subscriptions").textContent = push?.channels.join(", ") || "none";
}

function log(channel, message, offset) {
  const item = document.createElement("li");
  const time = document.createElement("time");
  time.textContent = new Date().toLocaleTimeString();
  const name = document.createElement("span");
  name.className = "channel";
  name.textContent = channel;
  item.append(time, name);
  if (offset !== undefined) {
    const position = document.createElement("span");
    position.className = "offset";
    position.textContent = `#${offset}`;
    item.append(position);
  }
  const text = document.createElement("span");
  text.className = "message";
  // Since v1.2 a message may be any JSON value: show those as formatted JSON.
  if (typeof message === "string") text.textContent = message;
  else {
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(message, null, 2);
    text.append(pre);
  }
  item.append(text);
  $("messages").prepend(item);
}

/** One badge per history channel resumed by the last reconnect. */
function showRecovery(recovered) {
  const badges = Object.entries(recovered).map(([channel, ok]) => {
    const badge = document.createElement("span");
    badge.className = `badge ${ok ? "recovered" : "not-recovered"}`;
    badge.dataset.channel = channel;
    badge.textContent = `${channel}: ${ok ? "recovered" : "not recovered"}`;
    return badge;
  });
  $("recovery").replaceChildren(...badges);
  if (badges.length === 0) $("recovery").textContent = "no history channels";
}

function describe(error) {
  return error?.errorDetails
    ? `${error.code} ${error.message}: ${error.errorDetails}`
    : String(error);
}

let push;
try {
  push = await PushClient.connect(wsUrl, { minDelayMs: 250, maxDelayMs: 5000 });
  setStatus("open", `connected as ${push.uuid}`);
} catch (error) {
  setStatus("closed", `could not connect: ${describe(error)}`);
}

if (push) {
  push.on("disconnected", ({ code, delayMs }) => {
    setStatus("reconnecting", `disconnected (code ${code}), retrying in ${delayMs} ms…`);
  });
  push.on("reconnected", ({ uuid, recovered }) => {
    setStatus("open", `reconnected as ${uuid}`);
    showRecovery(recovered);
    showSubscriptions();
  });
  push.on("notRecovered", ({ channel, position }) => {
    log(channel, `(missed pushes are lost; continuing after #${position.offset})`);
  });
  push.on("channelDeleted", ({ channel }) => {
    log(channel, "(channel deleted)");
    showSubscriptions();
  });
  push.on("subscriptionRevoked", ({ channel }) => {
    log(channel, "(subscription revoked)");
    showSubscriptions();
  });
  push.on("error", ({ error, channel }) => log(channel ?? "error", describe(error)));
}

$("subscribe-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const channel = $("subscribe-channel").value;
  if (!push) return;
  try {
    await push.subscribe(channel, (message, meta) => log(meta.channel, message, meta.offset));
    $("push-channel").value = channel;
  } catch (error) {
    log(channel, `subscribe failed: ${describe(error)}`);
  }
  showSubscriptions();
});

$("create-button").addEventListener("click", async () => {
  const channel = $("subscribe-channel").value;
  const history = $("create-history").checked ? { size: 100, ttlSeconds: 86_400 } : null;
  const reply = await action("/channel/create", "CREATE_CHANNEL", { channel, history });
  if (reply.code === 200) {
    $("push-channel").value = channel;
    $("push-token").value = reply.data.channelToken;
    $("push-result").textContent = `created "${channel}"; its token is in the form`;
  } else {
    $("push-result").textContent = `${reply.code} ${reply.message}: ${reply.data?.errorDetails}`;
  }
});

$("push-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const reply = await action("/push", "PUSH_MESSAGE", {
    channel: $("push-channel").value,
    channelToken: $("push-token").value,
    recipients: [],
    message: $("push-message").value,
  });
  $("push-result").textContent = reply.code !== 200
    ? `${reply.code} ${reply.message}: ${reply.data?.errorDetails}`
    : reply.data.offset === undefined
    ? "sent"
    : `sent as #${reply.data.offset}`;
});

async function action(path, name, data) {
  try {
    const response = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ messageType: "SERVER_ACTION", action: name, data }),
    });
    return await response.json();
  } catch (error) {
    return { code: 0, message: "Network error", data: { errorDetails: String(error) } };
  }
}
