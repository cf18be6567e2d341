// The sandbox's embeddable dashboard, its side of CONTRACT §2.4. Framed by
// the product, it asks its parent for credentials once, to "*" (it cannot
// know the parent's origin), takes them only from its parent, and proves
// them by listing the deployment's variable names with the admin key.
(function () {
  "use strict";
  var status = document.querySelector("[data-testid=sandbox-embed-status]");
  if (!status) return;
  if (window.parent === window) {
    status.textContent = "This dashboard signs in only when a page frames it.";
    return;
  }
  var taken = false;
  window.addEventListener("message", function (event) {
    if (taken || event.source !== window.parent) return;
    var creds = event.data;
    if (!creds || creds.type !== "dashboard-credentials") return;
    if (typeof creds.adminKey !== "string" || typeof creds.deploymentName !== "string" ||
        typeof creds.deploymentUrl !== "string" || !/^https?:\/\//.test(creds.deploymentUrl)) {
      status.textContent = "The credentials were malformed.";
      status.setAttribute("data-signed-in", "false");
      return;
    }
    taken = true;
    status.textContent = "Checking the credentials…";
    fetch(creds.deploymentUrl.replace(/\/+$/, "") + "/api/v1/list_environment_variables", {
      headers: { "Authorization": "Convex " + creds.adminKey },
      credentials: "omit",
    }).then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.json();
    }).then(function (body) {
      show(creds, Object.keys((body && body.environmentVariables) || {}).sort());
      status.textContent = "Signed in to " + creds.deploymentName + " with the app's deploy key.";
      status.setAttribute("data-signed-in", "true");
    }).catch(function () {
      status.textContent = "The credentials were refused.";
      status.setAttribute("data-signed-in", "false");
    });
  });

  // show fills in the deployment and its variable names, never values and
  // never the key, as text only.
  function show(creds, names) {
    document.querySelector("[data-testid=sandbox-embed-deployment]").textContent = creds.deploymentName;
    document.querySelector("[data-testid=sandbox-embed-deployment-url]").textContent = creds.deploymentUrl;
    var list = document.querySelector("[data-testid=sandbox-embed-env]");
    list.textContent = "";
    names.forEach(function (name) {
      var item = document.createElement("li");
      item.textContent = name;
      item.setAttribute("data-name", name);
      list.appendChild(item);
    });
    if (names.length === 0) document.querySelector("[data-testid=sandbox-embed-no-env]").hidden = false;
    document.querySelector("[data-testid=sandbox-embed-signed-in]").hidden = false;
  }

  // The parent listens before it loads this frame, so one request is enough.
  window.parent.postMessage({ type: "dashboard-credentials-request" }, "*");
})();
