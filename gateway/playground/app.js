// The chatrpc playground: talks to the gateway's public HTTP API (/v1/models,
// /v1/chat/completions with SSE, /v1/threads) from the browser, with no build step and no
// library. Model output is untrusted: it only ever reaches the page as text (textContent),
// never as HTML. The API key, when the gateway asks for one, lives in sessionStorage only.
"use strict";

const KEY_STORAGE = "chatrpc.playground.key"; // sessionStorage: gone with the tab
const THREADS_STORAGE = "chatrpc.playground.threads"; // localStorage: [{id, name}]

const $ = (id) => document.getElementById(id);
const state = { current: null, controller: null, pendingRetry: null };

// --- small DOM helpers: text only -----------------------------------------------------

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function setStatus(text) {
  $("status").textContent = text;
}

// --- the API key -------------------------------------------------------------------------

function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

function headers(extra) {
  const all = { "Content-Type": "application/json", ...extra };
  if (apiKey()) all.Authorization = "Bearer " + apiKey();
  return all;
}

function askForKey(retry) {
  state.pendingRetry = retry;
  $("key").value = "";
  if (!$("key-dialog").open) $("key-dialog").showModal();
}

function onKeyGiven() {
  const key = $("key").value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_STORAGE, key);
  $("key-state").textContent = "Using an API key (this tab only).";
  const retry = state.pendingRetry;
  state.pendingRetry = null;
  if (retry) retry();
}

// A fetch against the gateway; a 401 asks for a key and retries `retry` once it is given.
async function api(path, options, retry) {
  const response = await fetch(path, { ...options, headers: headers(options && options.headers) });
  if (response.status === 401) {
    askForKey(retry);
    throw new Error("an API key is needed");
  }
  return response;
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error) return `${response.status}: ${body.error.message}`;
  } catch (ignored) {
    // not JSON: the status says enough
  }
  return `${response.status} ${response.statusText}`;
}

// --- models --------------------------------------------------------------------------------

async function loadModels() {
  const response = await api("/v1/models", {}, loadModels);
  if (!response.ok) return setStatus("models: " + (await errorText(response)));
  const body = await response.json();
  const select = $("model");
  select.replaceChildren();
  for (const model of body.data) select.append(new Option(model.id, model.id));
  setStatus(`${body.data.length} model(s)`);
  await refreshThreads();
}

// --- threads: this browser's ids and names, the server's contents ----------------------

function localThreads() {
  try {
    return JSON.parse(localStorage.getItem(THREADS_STORAGE) || "[]");
  } catch (ignored) {
    return [];
  }
}

function saveThreads(threads) {
  localStorage.setItem(THREADS_STORAGE, JSON.stringify(threads));
}

function newThreadId() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return "pg-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function startThread() {
  const threads = localThreads();
  const thread = { id: newThreadId(), name: `Thread ${threads.length + 1}` };
  saveThreads([thread, ...threads]);
  state.current = thread.id;
  $("messages").replaceChildren();
  renderThreads(new Map());
  refreshThreads();
}

const MAX_THREAD_PAGES = 20; // of 100: a bound on the listing, not a limit anyone should meet

// The server's threads (GET /v1/threads, page by page), or null if it could not be listed.
async function storedThreads() {
  const stored = new Map();
  let after = "";
  for (let page = 0; page < MAX_THREAD_PAGES; page++) {
    const query = after ? `&after=${encodeURIComponent(after)}` : "";
    const response = await api(`/v1/threads?limit=100${query}`, {}, refreshThreads);
    if (!response.ok) return null;
    const body = await response.json();
    for (const thread of body.data) stored.set(thread.id, thread);
    if (!body.has_more) return stored;
    after = body.next_page_token;
  }
  return stored;
}

// The list shows this browser's threads that the server holds, plus the current one before
// its first turn is stored; threads the server no longer holds (deleted elsewhere) leave it.
async function refreshThreads() {
  const stored = await storedThreads();
  if (stored !== null) {
    saveThreads(localThreads().filter((t) => stored.has(t.id) || t.id === state.current));
  }
  renderThreads(stored || new Map());
}

function renderThreads(stored) {
  const list = $("threads");
  list.replaceChildren();
  for (const thread of localThreads()) {
    const item = element("li", thread.id === state.current ? "current" : "");
    item.dataset.threadId = thread.id;
    const name = element("span", "name", thread.name);
    const count = stored.get(thread.id) ? stored.get(thread.id).message_count : 0;
    name.title = `${thread.id}: ${count} message(s)`;
    name.addEventListener("click", () => openThread(thread.id));
    const rename = element("button", "rename", "✎");
    rename.title = "Rename";
    rename.addEventListener("click", () => beginRename(item, thread));
    const remove = element("button", "delete", "✕");
    remove.title = "Delete";
    remove.addEventListener("click", () => deleteThread(thread.id));
    item.append(name, rename, remove);
    list.append(item);
  }
  const current = localThreads().find((t) => t.id === state.current);
  $("thread-title").textContent = current ? current.name : "";
}

function beginRename(item, thread) {
  const input = element("input", "rename-input");
  input.value = thread.name;
  const finish = () => {
    const name = input.value.trim() || thread.name;
    saveThreads(localThreads().map((t) => (t.id === thread.id ? { ...t, name } : t)));
    refreshThreads();
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") finish();
    if (event.key === "Escape") refreshThreads();
  });
  input.addEventListener("blur", finish);
  item.replaceChildren(input);
  input.focus();
  input.select();
}

async function deleteThread(id) {
  const response = await api(`/v1/threads/${encodeURIComponent(id)}`, { method: "DELETE" });
  if (!response.ok && response.status !== 404) return setStatus(await errorText(response));
  saveThreads(localThreads().filter((t) => t.id !== id));
  if (state.current === id) {
    state.current = null;
    $("messages").replaceChildren();
  }
  if (!localThreads().length) return startThread();
  if (!state.current) return openThread(localThreads()[0].id);
  await refreshThreads();
}

async function openThread(id) {
  if (state.controller) return; // one turn at a time
  state.current = id;
  const box = $("messages");
  box.replaceChildren();
  const response = await api(`/v1/threads/${encodeURIComponent(id)}`, {}, () => openThread(id));
  if (response.ok) {
    for (const message of (await response.json()).messages) {
      if (message.role !== "user" && message.role !== "assistant") continue;
      const view = addMessage(message.role);
      view.content.textContent = message.content || "";
      if (message.reasoning_content) showReasoning(view, message.reasoning_content);
      for (const call of message.tool_calls || []) {
        addToolCall(view).textContent = `${call.function.name}(${call.function.arguments})`;
      }
    }
  } else if (response.status !== 404) {
    setStatus(await errorText(response));
  }
  await refreshThreads();
}

// --- messages ------------------------------------------------------------------------------

function addMessage(role) {
  const node = element("div", `message ${role}`);
  const reasoning = element("div", "reasoning hidden");
  const content = element("div", "content");
  const tools = element("div", "tools");
  const figures = element("div", "figures");
  node.append(element("div", "role", role), reasoning, content, tools, figures);
  $("messages").append(node);
  node.scrollIntoView({ block: "end" });
  return { node, reasoning, content, tools, figures };
}

function showReasoning(view, text) {
  view.reasoning.classList.remove("hidden");
  view.reasoning.textContent = text;
}

function addToolCall(view) {
  const node = element("div", "tool-call");
  view.tools.append(node);
  return node;
}

// --- a turn: POST /v1/chat/completions, streamed -----------------------------------------

function turnBody(text) {
  const messages = [];
  const system = $("system").value.trim();
  if (system) messages.push({ role: "system", content: system });
  messages.push({ role: "user", content: text });
  const body = {
    model: $("model").value,
    messages,
    stream: true,
    stream_options: { include_usage: true },
  };
  const temperature = $("temperature").value;
  if (temperature !== "") body.temperature = Number(temperature);
  const maxTokens = $("max-tokens").value;
  if (maxTokens !== "") body.max_tokens = Number(maxTokens);
  return body;
}

function serverTimings(header) {
  // "queue;dur=0.1, ttft;dur=12.3" → "queue 0.1 ms, ttft 12.3 ms"
  return (header || "")
    .split(",")
    .map((entry) => entry.trim().match(/^([a-z]+);dur=([0-9.]+)$/))
    .filter(Boolean)
    .map((m) => `${m[1]} ${m[2]} ms`)
    .join(", ");
}

async function send(text) {
  if (!state.current) startThread();
  const view = addMessage("user");
  view.content.textContent = text;
  const reply = addMessage("assistant");
  const controller = new AbortController();
  state.controller = controller;
  $("send").disabled = true;
  $("stop").disabled = false;
  setStatus("generating…");
  const turn = { sent: performance.now(), first: null, chunks: 0, usage: null, timing: "" };
  try {
    const response = await api("/v1/chat/completions", {
      method: "POST",
      headers: { "X-Thread-Id": state.current },
      body: JSON.stringify(turnBody(text)),
      signal: controller.signal,
    });
    if (!response.ok) throw new Error(await errorText(response));
    turn.timing = serverTimings(response.headers.get("server-timing"));
    await readStream(response, reply, turn);
    setStatus("done");
  } catch (error) {
    if (error.name === "AbortError") {
      reply.node.classList.add("stopped");
      setStatus("stopped");
    } else {
      reply.node.classList.add("error");
      reply.content.textContent += (reply.content.textContent ? "\n" : "") + error.message;
      setStatus("error");
    }
  } finally {
    reply.figures.textContent = figures(turn, controller.signal.aborted);
    state.controller = null;
    $("send").disabled = false;
    $("stop").disabled = true;
    refreshThreads();
  }
}

function figures(turn, stopped) {
  const parts = [];
  if (turn.first !== null) {
    parts.push(`TTFT ${Math.round(turn.first - turn.sent)} ms`);
    const seconds = (performance.now() - turn.first) / 1000;
    const tokens = turn.usage ? turn.usage.completion_tokens : turn.chunks;
    if (seconds > 0 && tokens > 1) parts.push(`${(tokens / seconds).toFixed(1)} tokens/s`);
  }
  if (turn.usage) parts.push(`${turn.usage.completion_tokens} tokens`);
  if (turn.timing) parts.push(`server: ${turn.timing}`);
  if (stopped) parts.push("stopped");
  return parts.join(" · ");
}

// Server-sent events: `data: {chunk}` blocks separated by a blank line, `data: [DONE]` last;
// an error after the first token arrives as one `data: {"error": …}` event.
async function readStream(response, reply, turn) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const calls = [];
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data: ")) continue; // `: ping` comments
        const data = line.slice(6);
        if (data === "[DONE]") return;
        applyChunk(JSON.parse(data), reply, turn, calls);
      }
    }
  }
}

function applyChunk(chunk, reply, turn, calls) {
  if (chunk.error) throw new Error(chunk.error.message);
  if (chunk.usage) turn.usage = chunk.usage;
  for (const choice of chunk.choices || []) {
    const delta = choice.delta || {};
    const got = delta.content || delta.reasoning_content || delta.tool_calls;
    if (got && turn.first === null) turn.first = performance.now();
    if (got) turn.chunks += 1;
    if (delta.reasoning_content) {
      showReasoning(reply, reply.reasoning.textContent + delta.reasoning_content);
    }
    if (delta.content) reply.content.textContent += delta.content;
    for (const part of delta.tool_calls || []) {
      if (!calls[part.index]) calls[part.index] = { node: addToolCall(reply), name: "", args: "" };
      const call = calls[part.index];
      call.name += (part.function && part.function.name) || "";
      call.args += (part.function && part.function.arguments) || "";
      call.node.textContent = `${call.name}(${call.args})`;
    }
  }
  reply.node.scrollIntoView({ block: "end" });
}

// --- wiring ----------------------------------------------------------------------------------

function submit(event) {
  event.preventDefault();
  const text = $("prompt").value.trim();
  if (!text || state.controller) return;
  $("prompt").value = "";
  send(text);
}

document.addEventListener("DOMContentLoaded", () => {
  $("composer").addEventListener("submit", submit);
  $("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) submit(event);
  });
  $("stop").addEventListener("click", () => state.controller && state.controller.abort());
  $("new-thread").addEventListener("click", () => state.controller || startThread());
  $("key-form").addEventListener("submit", onKeyGiven);
  if (apiKey()) $("key-state").textContent = "Using an API key (this tab only).";
  const threads = localThreads();
  state.current = threads.length ? threads[0].id : null;
  loadModels()
    .then(() => (state.current ? openThread(state.current) : startThread()))
    .catch((error) => setStatus(error.message));
});
