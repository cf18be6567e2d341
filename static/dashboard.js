// The embedded Convex dashboard (CONTRACT §2.4) asks its parent page for
// credentials. We answer only a request that comes from the dashboard frame
// itself, at the embed origin, and send the answer only to that origin —
// never "*".
(function () {
  "use strict";
  var frame = document.getElementById("convex-dashboard");
  if (!frame) return;
  var origin = frame.getAttribute("data-dashboard-origin");
  var credentialsURL = frame.getAttribute("data-credentials-url");
  window.addEventListener("message", function (event) {
    // A frame that has no window yet (or any more) has asked nothing.
    if (!frame.contentWindow || event.source !== frame.contentWindow || event.origin !== origin) return;
    if (!event.data || event.data.type !== "dashboard-credentials-request") return;
    fetch(credentialsURL, { method: "POST", credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (creds) {
        if (!creds || !frame.contentWindow) return;
        frame.contentWindow.postMessage({
          type: "dashboard-credentials",
          adminKey: creds.adminKey,
          deploymentUrl: creds.deploymentUrl,
          deploymentName: creds.deploymentName,
        }, origin);
      });
  });
  // Only now, with the listener in place, is the frame loaded: a frame that
  // loaded first could ask before anyone listened.
  if (frame.getAttribute("data-src")) frame.src = frame.getAttribute("data-src");
})();
