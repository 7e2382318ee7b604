// Scanner page: keeps the scan field focused for handheld (keyboard-wedge) scanners, shows
// results without reloading, and scans with the camera through the barcode-detector
// polyfill, whose wasm is served from our own static files (never a CDN).
(function () {
  "use strict";
  var form = document.getElementById("scan-form");
  if (!form) return;
  var input = document.getElementById("payload");
  var nonce = document.getElementById("nonce");
  var region = document.getElementById("result");
  var config = document.getElementById("scanner-config").dataset;
  var busy = false;
  var unanswered = null;  // the payload of a scan that got no answer, retried with its nonce

  function newNonce() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function refocus() {
    window.setTimeout(function () {
      var active = document.activeElement;
      // Anything but another control (a click on text, the page, the result) gives the
      // focus back, so the next scan is never typed into nowhere.
      if (!active || !active.matches("input, select, textarea, button, a[href], video")) {
        input.focus();
      }
    }, 60);
  }
  input.addEventListener("blur", refocus);
  document.addEventListener("click", refocus);

  function show(html) {
    region.innerHTML = html;
  }

  function message(text) {
    var p = document.createElement("p");
    p.className = "scan-result reason-network";
    p.setAttribute("role", "alert");
    p.textContent = text;
    region.replaceChildren(p);
  }

  function send(payload) {
    if (busy) return;
    busy = true;
    // Only a retry of the very same scan keeps the nonce: the server refuses a nonce sent
    // with another ticket.
    if (unanswered !== null && unanswered !== payload) nonce.value = newNonce();
    unanswered = payload;
    input.value = payload;
    var body = new FormData(form);
    message(config.sending);
    fetch(form.action, {method: "POST", body: body, credentials: "same-origin",
                        headers: {"X-Requested-With": "fetch"}})
      .then(function (resp) {
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        return resp.text();
      })
      .then(function (html) {
        show(html);
        nonce.value = newNonce();  // a retry after a network error keeps the old nonce
        unanswered = null;
        input.value = "";
      })
      .catch(function () { message(config.networkError); })
      .finally(function () { busy = false; input.focus(); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (input.value.trim()) send(input.value);
  });

  // With a Japanese IME left on, the scanner's Enter only confirms the composition and the
  // form is not sent: send it once the composition ends (the server folds full-width text).
  var sendAfterComposition = false;
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.isComposing || event.keyCode === 229)) {
      sendAfterComposition = true;
    }
  });
  input.addEventListener("compositionend", function () {
    if (!sendAfterComposition) return;
    sendAfterComposition = false;
    window.setTimeout(function () { if (input.value.trim()) send(input.value); }, 0);
  });

  // Some scanners end a scan with Tab instead of Enter: send a complete code (35 characters,
  // engine/tokens.py) rather than let focus leave. An empty or partial field tabs as usual,
  // so keyboard users are never trapped.
  input.addEventListener("keydown", function (event) {
    if (event.key !== "Tab" || event.shiftKey || event.isComposing) return;
    if (input.value.replace(/[\s\-\u30fc\uff0d]/g, "").length >= 35) {
      event.preventDefault();
      send(input.value);
    }
  });

  // -- camera -------------------------------------------------------------------------
  var button = document.getElementById("camera-button");
  var box = document.getElementById("camera");
  var video = document.getElementById("camera-video");
  var status = document.getElementById("camera-status");
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  if (window.BarcodeDetectionAPI) {
    window.BarcodeDetectionAPI.prepareZXingModule({
      overrides: {
        locateFile: function (path, prefix) {
          return path.endsWith(".wasm") ? config.wasm : prefix + path;
        }
      },
      fireImmediately: false
    });
  }
  button.hidden = false;
  var last = "", lastAt = 0;

  function loop(detector) {
    detector.detect(video).then(function (codes) {
      var now = Date.now();
      if (codes.length && codes[0].rawValue) {
        var text = codes[0].rawValue;
        if (text !== last || now - lastAt > 4000) {  // one scan per ticket held in view
          last = text;
          lastAt = now;
          send(text);
        }
      }
    }).catch(function () { /* a frame that could not be read */ })
      .finally(function () { window.setTimeout(function () { loop(detector); }, 200); });
  }

  button.addEventListener("click", function () {
    navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}, audio: false})
      .then(function (stream) {
        video.srcObject = stream;
        box.hidden = false;
        button.hidden = true;
        return video.play();
      })
      .then(function () {
        status.textContent = config.cameraReady;
        loop(new window.BarcodeDetector({formats: ["qr_code"]}));
        input.focus();
      })
      .catch(function () { status.textContent = config.cameraError; box.hidden = false; });
  });
})();
