// casebridge's web messenger for any website:
//   <script src="https://support.example.com/messenger/acme/embed.js" defer></script>
// Optionally, before it, a signed identity (see the README):
//   <script>window.casebridgeIdentity = {user_id, email, name, signature};</script>
(function () {
  "use strict";
  const script = document.currentScript;
  const page = script.src.replace(/\/embed\.js(\?.*)?$/, "");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Chat with us";
  button.setAttribute("aria-expanded", "false");
  button.style.cssText = "position:fixed;right:20px;bottom:20px;z-index:2147483000;padding:12px 18px;border-radius:24px;border:0;background:#0b5cab;color:#fff;font:16px system-ui,sans-serif;cursor:pointer";
  let frame = null;
  button.addEventListener("click", () => {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.title = "Chat with us";
      const identity = window.casebridgeIdentity;
      frame.src = identity ? page + "#" + encodeURIComponent(JSON.stringify(identity)) : page;
      frame.style.cssText = "position:fixed;right:20px;bottom:80px;z-index:2147483000;width:min(380px,calc(100vw - 40px));height:min(600px,calc(100vh - 120px));border:1px solid #9aa5b4;border-radius:12px;background:#fff";
      document.body.appendChild(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
    button.setAttribute("aria-expanded", String(!frame.hidden));
  });
  document.body.appendChild(button);
})();
