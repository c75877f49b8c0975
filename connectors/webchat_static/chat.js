// Minimal web chat for the Lumo bot: talks to Rasa over the webchat REST channel.
// The conversation id is kept in localStorage so a reload continues the same conversation.
"use strict";
(function () {
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const status = document.getElementById("status");
  const typing = document.getElementById("typing");
  const KEY = "lumo-chat-sender";
  let sender = localStorage.getItem(KEY);
  if (!sender) {
    sender = "web-" + (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
    localStorage.setItem(KEY, sender);
  }
  let rasaUrl = "";

  function add(text, who) {
    const li = document.createElement("li");
    li.className = "msg " + who;
    li.setAttribute("dir", "auto");
    li.textContent = text;
    const label = who === "me" ? "You: " : who === "bot" ? "Lumo: " : "";
    li.setAttribute("aria-label", label + text);
    log.appendChild(li);
    li.scrollIntoView({ block: "end" });
    return li;
  }

  function addButtons(buttons) {
    const li = document.createElement("li");
    li.className = "buttons";
    buttons.forEach(function (b) {
      const btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = b.title;
      btn.setAttribute("dir", "auto");
      btn.addEventListener("click", function () {
        li.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        send(b.payload, b.title);
      });
      li.appendChild(btn);
    });
    log.appendChild(li);
    const first = li.querySelector("button");
    if (first) first.focus();
  }

  async function send(message, shown) {
    add(shown || message, "me");
    typing.hidden = false;
    try {
      const resp = await fetch(rasaUrl + "/webhooks/webchat/webhook", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: sender, message: message,
                               metadata: { locale: navigator.language || "" } }),
      });
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      const replies = await resp.json();
      replies.forEach(function (r) {
        if (r.text) add(r.text, "bot");
        if (r.buttons && r.buttons.length) addButtons(r.buttons);
      });
      status.textContent = "Connected";
    } catch (err) {
      add("Sorry, the message could not be delivered. Please try again.", "error");
      status.textContent = "Connection problem — retrying when you send again";
    } finally {
      typing.hidden = true;
    }
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
    input.focus();
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
  });

  fetch("config.json").then(function (r) { return r.json(); }).then(function (cfg) {
    rasaUrl = cfg.rasa_url;
    status.textContent = "Connected";
    input.focus();
  }).catch(function () { status.textContent = "Could not reach the bot"; });
})();
