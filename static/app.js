// chefdeploy's own script: small behaviours that CSP-safe pages cannot inline.
(function () {
  "use strict";
  // Copy buttons: <button data-copy-target="#id"> copies that element's text
  // and says data-copy-message in data-copy-status. A masked secret is never
  // copied: a button with data-copy-reveal-url first reveals it through that
  // (audited) call, HTMX swapping the answer into data-copy-reveal-target,
  // then copies the revealed text.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button || !navigator.clipboard) return;
    var targetSelector = button.getAttribute("data-copy-target");
    var statusSelector = button.getAttribute("data-copy-status");
    var message = button.getAttribute("data-copy-message") || "Copied";
    var revealURL = button.getAttribute("data-copy-reveal-url");
    var ready = Promise.resolve();
    if (revealURL) {
      if (!window.htmx) return;
      ready = htmx.ajax("POST", revealURL, { target: button.getAttribute("data-copy-reveal-target"), swap: "outerHTML" });
    }
    // After a reveal the panel is a new one: look everything up again.
    var say = function (text) {
      var status = statusSelector && document.querySelector(statusSelector);
      if (status) status.textContent = text;
    };
    ready.then(function () {
      var target = document.querySelector(targetSelector);
      if (!target) return;
      var text = Array.prototype.map.call(target.childNodes, function (n) {
        return n.nodeName === "BR" ? "\n" : n.textContent.trim();
      }).join("").trim() + "\n";
      if (text.indexOf("\u2022") >= 0) {
        say("Not copied: the deploy key could not be revealed.");
        return;
      }
      return navigator.clipboard.writeText(text).then(function () {
        say(message);
        setTimeout(function () { say(""); }, 4000);
      }, function () {
        say("Could not copy: select the lines and copy them.");
      });
    });
  });
  // A select marked data-enables-submit enables its form's submit button once
  // something is chosen: Connect stays disabled until a team is picked.
  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-enables-submit]");
    if (!select || !select.form) return;
    var submit = select.form.querySelector("button[type=submit]");
    if (submit) submit.disabled = select.value === "";
  });
  // Upload progress of a form marked data-upload (HTMX reports it).
  document.addEventListener("htmx:xhr:progress", function (event) {
    var form = event.target.closest && event.target.closest("form[data-upload]");
    if (!form || !event.detail.lengthComputable || !event.detail.total) return;
    var box = form.querySelector("[data-upload-progress]");
    if (!box) return;
    var percent = Math.round((event.detail.loaded / event.detail.total) * 100);
    box.classList.remove("hidden");
    box.querySelector("progress").value = percent;
    box.querySelector("[data-upload-percent]").textContent = percent + "%";
    // Once every byte is sent, the server validates the bundle before it answers.
    box.querySelector("[data-upload-label]").textContent = percent >= 100 ? "Validating…" : "Uploading";
  });
  // Announcements: a panel's root carries data-announce, the sentence for
  // its state. The panel is replaced at every poll, so it is no live region
  // itself: the page's persistent #announcer says a sentence once, when it
  // changes, and never the one the page was loaded with.
  var announced = {};
  var announceables = function (root) {
    var found = root.matches && root.matches("[data-announce]") ? [root] : [];
    return found.concat(Array.prototype.slice.call(root.querySelectorAll ? root.querySelectorAll("[data-announce]") : []));
  };
  var remember = function (root) {
    announceables(root).forEach(function (el) { announced[el.id] = el.getAttribute("data-announce"); });
  };
  document.addEventListener("DOMContentLoaded", function () { remember(document); });
  document.addEventListener("htmx:afterSettle", function (event) {
    var elt = event.target;
    var announcer = document.getElementById("announcer");
    announceables(elt).forEach(function (el) {
      var text = el.getAttribute("data-announce");
      if (!el.id || announced[el.id] === text) return;
      announced[el.id] = text;
      if (announcer && text) announcer.textContent = text;
    });
    // Focus: after the person's own action (Connect, Reveal, Deploy…) the
    // updated panel's heading takes the focus, and so it does whenever the
    // swap dropped the focus to <body>. A poll keeps the focus where it is
    // (HTMX restores it on the element with the same id).
    var detail = event.detail || {};
    var target = detail.target;
    if (!target || !elt.id || target.id !== elt.id) return;
    var own = detail.requestConfig && detail.requestConfig.verb && detail.requestConfig.verb !== "get";
    var lost = !document.activeElement || document.activeElement === document.body;
    if (!own && !lost) return;
    var heading = elt.matches("[data-swap-focus]") ? elt : elt.querySelector("[data-swap-focus]");
    if (heading) heading.focus({ preventScroll: !own });
  });
  // Escape closes an open popover (a <details data-popover> menu) and gives
  // the focus back to its toggle.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    Array.prototype.forEach.call(document.querySelectorAll("details[data-popover][open]"), function (d) {
      var inside = d.contains(document.activeElement);
      d.removeAttribute("open");
      var summary = d.querySelector("summary");
      if (inside && summary) summary.focus();
    });
  });
  // Drag and drop: a file dropped on a [data-dropzone] goes into its file
  // input, as if chosen there.
  var zone = function (event) { return event.target.closest && event.target.closest("[data-dropzone]"); };
  ["dragenter", "dragover"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var z = zone(event);
      if (!z) return;
      event.preventDefault();
      z.classList.add("border-orange-700", "bg-orange-50");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var z = zone(event);
      if (!z) return;
      event.preventDefault();
      z.classList.remove("border-orange-700", "bg-orange-50");
      var input = z.querySelector("input[type=file]");
      if (type === "drop" && input && event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
  });
})();
