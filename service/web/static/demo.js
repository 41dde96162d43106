/* trial-screen demo EHR: calls the real CDS Hooks endpoint and renders the cards as an EHR would.
   Plain browser JavaScript, no build step, no dependencies. Every server string reaches the page either
   through textContent or through renderMarkdown, which escapes HTML before adding its own tags. */
(function () {
  "use strict";

  var SERVICE = "/cds-services/trial-prescreen";
  var FEEDBACK = SERVICE + "/feedback";

  // ---------------------------------------------------------------------------------------------------
  // A tiny, safe markdown renderer: escape HTML first, then bold / italic / code / links / bullets / paragraphs.
  // ---------------------------------------------------------------------------------------------------
  function escapeHtml(text) {
    return String(text)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  function safeUrl(url) {
    // Only web links and same-site paths; anything else (javascript:, data:, ...) is dropped.
    return /^(https?:\/\/|\/(?!\/))/i.test(url) ? url : null;
  }

  function renderInline(escaped) {
    var codes = [];
    var text = escaped.replace(/`([^`]+)`/g, function (_, code) {
      codes.push("<code>" + code + "</code>");
      return "\u0000" + (codes.length - 1) + "\u0000";
    });
    text = text.replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, function (whole, label, url) {
      var href = safeUrl(url.replace(/&amp;/g, "&"));
      if (!href) return label;
      return '<a href="' + escapeHtml(href) + '" target="_blank" rel="noopener noreferrer">' + label + "</a>";
    });
    text = text.replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>").replace(/__([^_]+)__/g, "<strong>$1</strong>");
    text = text.replace(/(^|[^*\w])\*([^*\s][^*]*?)\*(?!\*)/g, "$1<em>$2</em>");
    text = text.replace(/(^|[^_\w])_([^_\s][^_]*?)_(?![_\w])/g, "$1<em>$2</em>");
    return text.replace(/\u0000(\d+)\u0000/g, function (_, i) { return codes[Number(i)]; });
  }

  function renderMarkdown(source) {
    var lines = escapeHtml(source || "").replace(/\r\n?/g, "\n").split("\n");
    var html = [];
    var paragraph = [];
    var list = [];
    function flushParagraph() {
      if (paragraph.length) html.push("<p>" + paragraph.map(renderInline).join("<br>") + "</p>");
      paragraph = [];
    }
    function flushList() {
      if (list.length) html.push("<ul>" + list.map(function (item) { return "<li>" + renderInline(item) + "</li>"; }).join("") + "</ul>");
      list = [];
    }
    lines.forEach(function (line) {
      var bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
      if (bullet) {
        flushParagraph();
        list.push(bullet[1]);
      } else if (/^\s*$/.test(line)) {
        flushParagraph();
        flushList();
      } else {
        flushList();
        paragraph.push(line.replace(/^\s*#{1,6}\s+/, ""));
      }
    });
    flushParagraph();
    flushList();
    return html.join("\n");
  }

  // ---------------------------------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------------------------------
  function uuid4() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { reason: text }; }
        if (!response.ok) {
          var reason = (data && (data.reason || data.error)) || response.statusText;
          throw new Error("HTTP " + response.status + ": " + reason);
        }
        return data;
      });
    });
  }

  function sendFeedback(card, item) {
    item.card = card.uuid;
    item.outcomeTimestamp = new Date().toISOString();
    return postJson(FEEDBACK, { feedback: [item] });
  }

  var status = document.getElementById("status");
  var cardsBox = document.getElementById("cards");
  var counter = 0;

  function say(text) { status.textContent = text; }

  // ---------------------------------------------------------------------------------------------------
  // Card rendering
  // ---------------------------------------------------------------------------------------------------
  function renderSuggestions(card, article, footer) {
    var suggestions = card.suggestions || [];
    if (!suggestions.length) return;
    var group = el("div", { class: "suggestions", role: "group", "aria-label": "Suggestions" });
    var buttons = [];
    suggestions.forEach(function (suggestion) {
      var button = el("button", { type: "button", class: "suggestion" + (suggestion.isRecommended ? " recommended" : "") }, suggestion.label);
      if (suggestion.isRecommended) button.setAttribute("aria-describedby", article.id + "-recommended");
      button.addEventListener("click", function () {
        buttons.forEach(function (b) { b.disabled = true; });
        sendFeedback(card, { outcome: "accepted", acceptedSuggestions: [{ id: suggestion.uuid }] })
          .then(function () {
            var done = el("p", { class: "feedback-done", role: "status" }, "Referral drafted");
            group.replaceWith(done);
            var override = footer.querySelector(".override");
            if (override) override.remove();
            article.classList.add("accepted");
            say("Referral drafted for " + (card.source.topic ? card.source.topic.code : "the trial") + ".");
          })
          .catch(function (error) {
            buttons.forEach(function (b) { b.disabled = false; });
            say("Could not record the referral: " + error.message);
          });
      });
      buttons.push(button);
      group.appendChild(button);
    });
    if (suggestions.some(function (s) { return s.isRecommended; })) {
      group.appendChild(el("span", { id: article.id + "-recommended", class: "recommended-note" }, "Recommended"));
    }
    footer.appendChild(group);
  }

  function renderOverride(card, article, footer) {
    var reasons = card.overrideReasons || [];
    if (!reasons.length) return;
    var form = el("form", { class: "override" });
    var selectId = article.id + "-override";
    form.appendChild(el("label", { for: selectId }, "Dismiss this card"));
    var select = el("select", { id: selectId, name: "reason", required: "required" });
    select.appendChild(el("option", { value: "" }, "Choose a reason…"));
    reasons.forEach(function (reason, index) {
      select.appendChild(el("option", { value: String(index) }, reason.display || reason.code));
    });
    form.appendChild(select);
    var submit = el("button", { type: "submit", class: "secondary" }, "Dismiss");
    form.appendChild(submit);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (select.value === "") { say("Choose a reason to dismiss the card."); select.focus(); return; }
      var reason = reasons[Number(select.value)];
      submit.disabled = true;
      sendFeedback(card, { outcome: "overridden", overrideReason: { reason: reason } })
        .then(function () {
          var text = "Dismissed: " + (reason.display || reason.code);
          form.replaceWith(el("p", { class: "feedback-done", role: "status" }, text));
          var suggestions = footer.querySelector(".suggestions");
          if (suggestions) suggestions.remove();
          article.classList.add("overridden");
          say(text + ".");
        })
        .catch(function (error) {
          submit.disabled = false;
          say("Could not record the dismissal: " + error.message);
        });
    });
    footer.appendChild(form);
  }

  function renderCard(card) {
    counter += 1;
    var indicator = card.indicator || "info";
    var article = el("article", { class: "card indicator-" + indicator, id: "card-" + counter, "aria-labelledby": "card-" + counter + "-summary" });
    var header = el("header", { class: "card-header" });
    header.appendChild(el("span", { class: "indicator", title: "Indicator" }, indicator));
    header.appendChild(el("h3", { id: "card-" + counter + "-summary", class: "card-summary" }, card.summary));
    article.appendChild(header);

    if (card.detail) {
      var detail = el("div", { class: "card-detail" });
      detail.innerHTML = renderMarkdown(card.detail);  // escaped inside renderMarkdown
      article.appendChild(detail);
    }

    var source = el("p", { class: "card-source" });
    source.appendChild(document.createTextNode("Source: "));
    var sourceUrl = card.source && card.source.url ? safeUrl(card.source.url) : null;
    if (sourceUrl) {
      source.appendChild(el("a", { href: sourceUrl, target: "_blank", rel: "noopener noreferrer" }, card.source.label));
    } else {
      source.appendChild(document.createTextNode(card.source ? card.source.label : "unknown"));
    }
    if (card.source && card.source.topic) {
      source.appendChild(document.createTextNode(" · trial "));
      source.appendChild(el("code", {}, card.source.topic.code));
    }
    article.appendChild(source);

    var links = (card.links || []).filter(function (link) { return safeUrl(link.url); });
    if (links.length) {
      var list = el("ul", { class: "card-links", "aria-label": "Links" });
      links.forEach(function (link) {
        var item = el("li");
        var anchor = el("a", { href: link.url, target: "_blank", rel: "noopener noreferrer" }, link.label);
        if (/report/i.test(link.label)) anchor.classList.add("report-link");
        item.appendChild(anchor);
        list.appendChild(item);
      });
      article.appendChild(list);
    }

    var footer = el("div", { class: "card-actions" });
    renderSuggestions(card, article, footer);
    renderOverride(card, article, footer);
    if (footer.childNodes.length) article.appendChild(footer);
    return article;
  }

  // Why no card: the deciding criteria of each trial the patient is ruled out of (a demo-only endpoint; an EHR
  // gets silence for those trials unless the service is set to send info cards).
  function showRuledOut(patientId) {
    var box = document.getElementById("ruled-out");
    var list = document.getElementById("ruled-out-list");
    return fetch("/demo/patients/" + encodeURIComponent(patientId) + "/ruled-out")
      .then(function (response) { return response.ok ? response.json() : { trials: [] }; })
      .then(function (data) {
        list.replaceChildren();
        (data.trials || []).forEach(function (trial) {
          var item = el("li", { class: "ruled-out-trial", "data-trial": trial.trial });
          item.appendChild(el("strong", {}, trial.title));
          var reasons = el("ul", { class: "reasons" });
          trial.reasons.forEach(function (text) { reasons.appendChild(el("li", { class: "reason" }, text)); });
          item.appendChild(reasons);
          list.appendChild(item);
        });
        box.hidden = !list.childNodes.length;
      });
  }

  // ---------------------------------------------------------------------------------------------------
  // Opening a chart = firing patient-view
  // ---------------------------------------------------------------------------------------------------
  function openChart(button) {
    var patientId = button.getAttribute("data-patient-id");
    document.querySelectorAll("button.patient").forEach(function (b) {
      b.setAttribute("aria-pressed", b === button ? "true" : "false");
    });
    document.getElementById("placeholder").hidden = true;
    document.getElementById("banner").hidden = false;
    document.getElementById("banner-name").textContent = button.getAttribute("data-patient-name");
    var age = button.getAttribute("data-patient-age");
    document.getElementById("banner-meta").textContent =
      button.getAttribute("data-patient-gender") + (age ? ", " + age + " years" : "") + " · Patient/" + patientId;
    cardsBox.replaceChildren();
    document.getElementById("ruled-out").hidden = true;
    cardsBox.setAttribute("aria-busy", "true");
    document.getElementById("main").scrollIntoView({ block: "start" });  // a patient low in the list: show the chart
    say("Calling the trial-prescreen service…");

    var request = {
      hook: "patient-view",
      hookInstance: uuid4(),
      context: { userId: "Practitioner/demo", patientId: patientId },
    };
    var exchange = document.getElementById("exchange");
    document.getElementById("exchange-request").textContent = JSON.stringify(request, null, 2);
    document.getElementById("exchange-response").textContent = "…";
    exchange.hidden = false;
    var started = performance.now();

    postJson(SERVICE, request)
      .then(function (response) {
        var cards = response.cards || [];
        var elapsed = Math.round(performance.now() - started);
        document.getElementById("exchange-response").textContent = JSON.stringify(response, null, 2);
        cards.forEach(function (card) { cardsBox.appendChild(renderCard(card)); });
        if (!cards.length) {
          cardsBox.appendChild(el("p", { class: "no-cards" },
            "No trial cards: the record rules this patient out of every trial (the reasons are below)."));
        }
        say(cards.length + " card" + (cards.length === 1 ? "" : "s") + " returned in " + elapsed + " ms.");
        return showRuledOut(patientId);
      })
      .catch(function (error) {
        document.getElementById("exchange-response").textContent = error.message;
        say("The service call failed: " + error.message);
      })
      .then(function () { cardsBox.removeAttribute("aria-busy"); });
  }

  document.querySelectorAll("button.patient").forEach(function (button) {
    button.addEventListener("click", function () { openChart(button); });
  });

  var wanted = new URLSearchParams(window.location.search).get("patient");
  if (wanted) {
    var match = document.querySelector('button.patient[data-patient-id="' + CSS.escape(wanted) + '"]');
    if (match) openChart(match);
  }

  window.trialScreenDemo = { renderMarkdown: renderMarkdown, escapeHtml: escapeHtml };
})();
