// Lumo web chat: plain JavaScript, no framework, no CDN.
//
// The conversation lives in Rasa's tracker store; this page only mirrors it.
// - Sending: POST /webhooks/webchat/webhook with a message_id. Unsent messages wait in an
//   outbox in localStorage and are retried (with the same id, so the server processes
//   each once) when the connection is back, also after a reload. A 503 means the server
//   could not finish the turn (nothing was stored): the page says it is still trying and
//   resends the same id with backoff.
// - Receiving: GET /webhooks/webchat/history?sender=…&since=… right after each send and
//   every few seconds, so replies a human agent sends later appear too; on load it
//   restores the whole conversation.
// - The sender id is the conversation's secret: 128 random bits from crypto.getRandomValues,
//   kept in localStorage. The history endpoint only answers to such a token.
"use strict";
(function () {
  var POLL_MS = 3000;          // history poll while the page is visible
  var HIDDEN_POLL_MS = 15000;  // ... and while it is in a background tab
  var HOURS_MS = 60000;        // business-hours status refresh
  var SEND_TIMEOUT_MS = 60000; // a turn may run actions (KB search, tickets)
  var READ_TIMEOUT_MS = 10000;
  var RETRY_MS = [1000, 2000, 5000, 10000, 20000];
  var KEY_SENDER = "lumo-chat-sender";
  var KEY_OUTBOX = "lumo-chat-outbox:";
  var ARABIC = /[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]/g;
  var LATIN = /[A-Za-z\u00C0-\u024F]/g;

  var STRINGS = {
    en: {
      title: "Lumo support", connecting: "Connecting…", connected: "Connected",
      offline: "Offline — your messages will be sent when the connection is back",
      unreachable: "Could not reach the chat service; retrying…",
      typing: "Lumo is typing…", send: "Send", message_label: "Your message",
      placeholder: "Type your question…",
      hint: "Enter sends; Shift+Enter starts a new line.", conversation: "Conversation",
      you: "You said:", bot: "Lumo said:", options: "Reply options",
      sending: "Sending…", waiting: "Not sent yet — will be sent when you are back online",
      failed: "Could not be sent: ",
      retrying: "Lumo is still working on this — trying again…",
      open: "Our support team is available now, until {t}.",
      open_no_end: "Our support team is available now.",
      closed: "Our support team is away until {t}. Lumo can still help, and you can leave a message.",
      closed_no_next: "Our support team is away. Lumo can still help."
    },
    sl: {
      title: "Podpora Lumo", connecting: "Povezujem …", connected: "Povezano",
      offline: "Brez povezave — sporočila bodo poslana, ko bo povezava spet vzpostavljena",
      unreachable: "Klepet ni dosegljiv; poskušam znova …",
      typing: "Lumo piše …", send: "Pošlji", message_label: "Vaše sporočilo",
      placeholder: "Napišite vprašanje …",
      hint: "Enter pošlje; Shift+Enter začne novo vrstico.", conversation: "Pogovor",
      you: "Vi:", bot: "Lumo:", options: "Možni odgovori",
      sending: "Pošiljam …", waiting: "Še ni poslano — poslano bo, ko boste spet povezani",
      failed: "Ni bilo mogoče poslati: ",
      retrying: "Lumo še dela na tem — poskušam znova …",
      open: "Naša ekipa za podporo je na voljo do {t}.",
      open_no_end: "Naša ekipa za podporo je na voljo.",
      closed: "Naša ekipa za podporo bo spet na voljo {t}. Lumo vam lahko pomaga že zdaj.",
      closed_no_next: "Naša ekipa za podporo trenutno ni na voljo. Lumo vam lahko pomaga že zdaj."
    },
    ar: {
      title: "دعم لومو", connecting: "جارٍ الاتصال…", connected: "متصل",
      offline: "غير متصل — سيتم إرسال رسائلك عند عودة الاتصال",
      unreachable: "تعذّر الوصول إلى خدمة الدردشة؛ جارٍ إعادة المحاولة…",
      typing: "لومو يكتب…", send: "إرسال", message_label: "رسالتك",
      placeholder: "اكتب سؤالك…",
      hint: "Enter للإرسال؛ Shift+Enter لسطر جديد.", conversation: "المحادثة",
      you: "أنت:", bot: "لومو:", options: "خيارات الرد",
      sending: "جارٍ الإرسال…", waiting: "لم تُرسل بعد — سيتم إرسالها عند عودة الاتصال",
      failed: "تعذّر الإرسال: ",
      retrying: "لومو لا يزال يعمل على ذلك — جارٍ إعادة المحاولة…",
      open: "فريق الدعم متاح الآن حتى {t}.",
      open_no_end: "فريق الدعم متاح الآن.",
      closed: "فريق الدعم غير متاح حتى {t}. يمكن للومو مساعدتك الآن.",
      closed_no_next: "فريق الدعم غير متاح حاليًا. يمكن للومو مساعدتك الآن."
    }
  };

  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("message");
  var connection = document.getElementById("connection");
  var hours = document.getElementById("hours");
  var hoursText = document.getElementById("hours-text");
  var typing = document.getElementById("typing");

  var uiLang = pickLanguage(navigator.language || "en");
  var t = STRINGS[uiLang];
  var rasaUrl = null;
  var sender = loadSender();
  var outboxKey = KEY_OUTBOX + sender;
  var outbox = loadOutbox();
  var lastTs = 0;                 // newest history timestamp rendered
  var seen = new Set();           // history entries rendered (from|timestamp|text)
  var pending = new Map();        // message_id -> element of a customer message in flight
  var delivered = new Set();      // message_ids the conversation already holds
  var conversationLanguage = null;
  var flushing = false;
  var retryTimer = null;
  var retryIndex = 0;
  var pollTimer = null;

  // ------------------------------------------------------------------ helpers

  function pickLanguage(tag) {
    var base = String(tag).toLowerCase().split(/[-_]/)[0];
    return STRINGS[base] ? base : "en";
  }

  function randomHex(bytes) {
    var a = new Uint8Array(bytes);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("");
  }

  function loadSender() {
    var id = null;
    try { id = localStorage.getItem(KEY_SENDER); } catch (e) { /* storage blocked */ }
    if (!id || !/^[A-Za-z0-9_-]{20,128}$/.test(id)) {
      id = "web-" + randomHex(16);
      try { localStorage.setItem(KEY_SENDER, id); } catch (e) { /* session only */ }
    }
    return id;
  }

  function loadOutbox() {
    try {
      var items = JSON.parse(localStorage.getItem(outboxKey) || "[]");
      return Array.isArray(items) ? items.filter(function (i) { return i && i.id && i.text; }) : [];
    } catch (e) { return []; }
  }

  function saveOutbox() {
    try { localStorage.setItem(outboxKey, JSON.stringify(outbox)); } catch (e) { /* full */ }
  }

  function fetchWithTimeout(url, options, ms) {
    var ctrl = new AbortController();
    var timer = setTimeout(function () { ctrl.abort(); }, ms);
    options = Object.assign({ signal: ctrl.signal, cache: "no-store" }, options || {});
    return fetch(url, options).finally(function () { clearTimeout(timer); });
  }

  // A message is right-to-left when Arabic letters outnumber Latin ones.
  function isArabic(text) {
    var ar = (String(text).match(ARABIC) || []).length;
    var la = (String(text).match(LATIN) || []).length;
    return ar > 0 && ar >= la;
  }

  function setDirection(el, text) {
    var rtl = isArabic(text);
    el.setAttribute("dir", rtl ? "rtl" : "ltr");
    if (rtl) el.setAttribute("lang", "ar");
    return rtl;
  }

  function applyStrings() {
    document.documentElement.lang = uiLang;
    document.documentElement.dir = uiLang === "ar" ? "rtl" : "ltr";
    document.querySelectorAll("[data-i18n]").forEach(function (el) {
      el.textContent = t[el.getAttribute("data-i18n")];
    });
    log.setAttribute("aria-label", t.conversation);
    input.setAttribute("placeholder", t.placeholder);
    document.title = t.title;
  }

  function setConversationLanguage(lang) {
    if (!lang || lang === conversationLanguage) return;
    conversationLanguage = lang;
    log.setAttribute("dir", lang === "ar" ? "rtl" : "ltr");
    log.setAttribute("lang", lang);
  }

  function setConnection(state) {
    if (connection.getAttribute("data-state") === state) return;
    connection.setAttribute("data-state", state);
    connection.textContent = t[state];
  }

  function showTyping(on) { typing.hidden = !on; }

  // ------------------------------------------------------------------ rendering

  function bubble(who, text) {
    var div = document.createElement("div");
    div.className = "msg " + who;
    var speaker = document.createElement("span");
    speaker.className = "visually-hidden";
    speaker.textContent = (who === "me" ? t.you : t.bot) + " ";
    var body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    div.appendChild(speaker);
    div.appendChild(body);
    setDirection(div, text);
    return div;
  }

  function setState(el, state, extra) {
    el.setAttribute("data-state", state);
    var note = el.querySelector(".state");
    if (state === "sent") { if (note) note.remove(); return; }
    if (!note) {
      note = document.createElement("span");
      note.className = "state";
      el.appendChild(note);
    }
    note.textContent = t[state] + (extra || "");
  }

  function disableOldButtons() {
    log.querySelectorAll(".buttons button").forEach(function (b) { b.disabled = true; });
  }

  function addButtons(buttons) {
    var group = document.createElement("div");
    group.className = "buttons";
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", t.options);
    buttons.forEach(function (b) {
      var btn = document.createElement("button");
      btn.type = "button";
      btn.textContent = b.title;
      setDirection(btn, b.title);
      btn.addEventListener("click", function () {
        group.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        queue(b.payload, b.title);
        input.focus();  // the clicked button is disabled now; keep focus in the composer
      });
      group.appendChild(btn);
    });
    log.appendChild(group);
  }

  function scrollToEnd() {
    var last = log.lastElementChild;
    if (last) last.scrollIntoView({ block: "end" });
  }

  function render(m) {
    var key = m.from + "|" + m.timestamp + "|" + m.text;
    if (m.timestamp > lastTs) lastTs = m.timestamp;
    if (m.from === "customer" && m.message_id) {
      delivered.add(m.message_id);
      var mine = pending.get(m.message_id);
      if (mine) {  // our own message, shown since it was typed: now it is delivered
        pending.delete(m.message_id);
        seen.add(key);
        setState(mine, "sent");
        return;
      }
    }
    if (seen.has(key)) return;
    seen.add(key);
    if (m.from === "customer") {
      disableOldButtons();
      log.appendChild(bubble("me", m.text));
      return;
    }
    if (m.text) log.appendChild(bubble("bot", m.text));
    if (m.buttons && m.buttons.length) addButtons(m.buttons);
  }

  // ------------------------------------------------------------------ history

  async function poll() {
    if (!rasaUrl) return;
    var url = rasaUrl + "/webhooks/webchat/history?sender=" + encodeURIComponent(sender);
    if (lastTs) url += "&since=" + encodeURIComponent(String(lastTs));
    try {
      var resp = await fetchWithTimeout(url, {}, READ_TIMEOUT_MS);
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      var body = await resp.json();
      if (navigator.onLine !== false) setConnection("connected");
      setConversationLanguage(body.language);
      var before = log.childElementCount;
      body.messages.forEach(render);
      if (log.childElementCount !== before) scrollToEnd();
      return true;
    } catch (e) {
      setConnection(navigator.onLine === false ? "offline" : "unreachable");
      return false;
    }
  }

  function schedulePoll() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async function () {
      await poll();
      schedulePoll();
    }, document.hidden ? HIDDEN_POLL_MS : POLL_MS);
  }

  // ------------------------------------------------------------------ sending

  function showPending(item) {
    disableOldButtons();
    var el = bubble("me", item.title || item.text);
    setState(el, "sending");
    pending.set(item.id, el);
    log.appendChild(el);
    scrollToEnd();
  }

  function queue(text, title) {
    var item = { id: "m-" + randomHex(12), text: text, title: title || null };
    outbox.push(item);
    saveOutbox();
    showPending(item);
    flush();
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    var wait = RETRY_MS[Math.min(retryIndex, RETRY_MS.length - 1)];
    retryIndex += 1;
    retryTimer = setTimeout(flush, wait);
  }

  async function flush() {
    if (flushing || !rasaUrl || !outbox.length) return;
    flushing = true;
    clearTimeout(retryTimer);
    try {
      while (outbox.length) {
        var item = outbox[0];
        var el = pending.get(item.id);
        if (el) setState(el, "sending");
        showTyping(true);
        var resp;
        try {
          var metadata = { locale: navigator.language || "" };
          if (item.title) metadata.title = item.title;
          resp = await fetchWithTimeout(rasaUrl + "/webhooks/webchat/webhook", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ sender: sender, message: item.text,
                                   message_id: item.id, metadata: metadata })
          }, SEND_TIMEOUT_MS);
        } catch (e) {
          resp = null;
        }
        if (resp && resp.status >= 400 && resp.status < 500) {
          // The server will never accept this message as it is: say why, drop it.
          var reason = "";
          try { reason = (await resp.json()).error || ""; } catch (e) { reason = "HTTP " + resp.status; }
          outbox.shift();
          saveOutbox();
          if (el) { pending.delete(item.id); setState(el, "failed", reason); }
          continue;
        }
        if (resp && resp.status === 503) {
          // The server is up but could not finish the turn (a part of the bot is
          // restarting): nothing of it was stored, so the same message id is sent again
          // with backoff. Calm "still trying", not "failed" and not "delivered".
          if (el) setState(el, "retrying");
          setConnection("connected");
          scheduleRetry();
          return;
        }
        if (!resp || !resp.ok) {
          if (el) setState(el, "waiting");
          setConnection(navigator.onLine === false ? "offline" : "unreachable");
          scheduleRetry();
          return;
        }
        outbox.shift();
        saveOutbox();
        retryIndex = 0;
        setConnection("connected");
        await poll();
      }
    } finally {
      showTyping(false);
      flushing = false;
    }
  }

  // ------------------------------------------------------------------ hours

  async function refreshHours() {
    if (!rasaUrl) return;
    try {
      var resp = await fetchWithTimeout(rasaUrl + "/webhooks/webchat/status?language=" +
                                        encodeURIComponent(uiLang), {}, READ_TIMEOUT_MS);
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      var s = await resp.json();
      hours.setAttribute("data-state", s.open ? "open" : "closed");
      hoursText.textContent = s.open
        ? (s.closes_at_text ? t.open.replace("{t}", s.closes_at_text) : t.open_no_end)
        : (s.next_opening_text ? t.closed.replace("{t}", s.next_opening_text) : t.closed_no_next);
      hours.title = s.timezone;
    } catch (e) {
      hours.setAttribute("data-state", "unknown");
    }
  }

  // ------------------------------------------------------------------ wiring

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) { input.focus(); return; }
    input.value = "";
    queue(text);
    input.focus();
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  window.addEventListener("online", function () {
    setConnection("connecting");
    retryIndex = 0;
    poll();
    flush();
  });
  window.addEventListener("offline", function () { setConnection("offline"); });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { poll(); schedulePoll(); }
  });

  async function start() {
    applyStrings();
    setConnection("connecting");
    for (var attempt = 0; rasaUrl === null; attempt++) {
      try {
        var cfg = await (await fetchWithTimeout("config.json", {}, READ_TIMEOUT_MS)).json();
        rasaUrl = String(cfg.rasa_url || "").replace(/\/+$/, "");
      } catch (e) {
        setConnection(navigator.onLine === false ? "offline" : "unreachable");
        await new Promise(function (r) { setTimeout(r, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]); });
      }
    }
    await poll();                 // restore the conversation
    log.setAttribute("aria-busy", "false");
    scrollToEnd();
    // What was typed but not confirmed before the reload: resend what the server lacks.
    outbox = outbox.filter(function (item) { return !delivered.has(item.id); });
    saveOutbox();
    outbox.forEach(showPending);
    refreshHours();
    setInterval(refreshHours, HOURS_MS);
    schedulePoll();
    flush();
  }

  start();
  input.focus();
})();
