// The web messenger's page: a visit kept in localStorage, the history, the
// parts as they arrive (EventSource), and the customer's messages and files.
(function () {
  "use strict";
  const root = document.getElementById("messenger");
  const org = JSON.parse(root.dataset.org);
  const base = location.pathname.replace(/\/$/, "");
  const api = base + "/api";
  const key = "casebridge-messenger:" + org;
  const log = document.getElementById("log");
  const status = document.getElementById("status");
  const shown = new Set();
  let token = localStorage.getItem(key);

  function say(message) { status.textContent = message || ""; }

  function show(part) {
    if (shown.has(part.id)) return;
    shown.add(part.id);
    const item = document.createElement("li");
    item.className = part.author;
    item.dataset.author = part.author;
    if (part.author !== "customer" && part.author !== "system") {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = part.author_name || (part.author === "agent" ? "AI agent" : "Support");
      item.appendChild(who);
    }
    const text = document.createElement("span");
    text.className = "text";
    const files = (part.attachments || []).map(a => "📎 " + a.name).join("\n");
    text.textContent = [part.text, files].filter(Boolean).join("\n");
    item.appendChild(text);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  async function call(method, path, body, contentType) {
    const headers = { "Authorization": "Bearer " + token };
    if (contentType) headers["Content-Type"] = contentType;
    const response = await fetch(api + path, { method, headers, body });
    if (!response.ok) {
      let message = "Something went wrong; try again.";
      try { message = (await response.json()).error.message; } catch (e) { /* keep the default */ }
      throw new Error(message);
    }
    return response.status === 204 ? null : response.json();
  }

  async function startVisit() {
    // A signed identity comes in the fragment (never sent to a server) from embed.js.
    let identity = {};
    try { identity = location.hash.length > 1 ? JSON.parse(decodeURIComponent(location.hash.slice(1))) : {}; } catch (e) { identity = {}; }
    const response = await fetch(api + "/visits", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(identity),
    });
    if (!response.ok) throw new Error("The messenger could not start; reload the page.");
    token = (await response.json()).token;
    localStorage.setItem(key, token);
  }

  function listen() {
    const events = new EventSource(api + "/events?token=" + encodeURIComponent(token));
    events.addEventListener("part", e => show(JSON.parse(e.data)));
    events.onerror = () => say("Reconnecting…");
    events.onopen = () => say("");
  }

  async function open() {
    try {
      if (token) {
        try {
          (await call("GET", "/conversation")).parts.forEach(show);
        } catch (e) {
          await startVisit();
        }
      } else {
        await startVisit();
      }
      listen();
    } catch (e) {
      say(e.message);
    }
  }

  document.getElementById("compose").addEventListener("submit", async event => {
    event.preventDefault();
    const input = document.getElementById("text");
    const text = input.value.trim();
    if (!text) return;
    const id = crypto.randomUUID ? crypto.randomUUID() : String(Date.now());
    input.value = "";
    try {
      show(await call("POST", "/messages", JSON.stringify({ id, text }), "application/json"));
      say("");
    } catch (e) {
      input.value = text;
      say(e.message);
    }
  });

  document.getElementById("file").addEventListener("change", async event => {
    const file = event.target.files[0];
    if (!file) return;
    try {
      show(await call("POST", "/files?name=" + encodeURIComponent(file.name), file, file.type || "application/octet-stream"));
      say("");
    } catch (e) {
      say(e.message);
    }
    event.target.value = "";
  });

  open();
})();
