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
})();
