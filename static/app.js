// chefdeploy's own script: small behaviours that CSP-safe pages cannot inline.
(function () {
  "use strict";
  // Copy buttons: <button data-copy-target="#id"> copies that element's text.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var target = document.querySelector(button.getAttribute("data-copy-target"));
    if (!target || !navigator.clipboard) return;
    var text = Array.prototype.map.call(target.childNodes, function (n) {
      return n.nodeName === "BR" ? "\n" : n.textContent.trim();
    }).join("").trim() + "\n";
    navigator.clipboard.writeText(text).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
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
