// Surge web: the live connections. The notification bell listens to the session's
// stream (EventSource, same origin, the session cookie authenticates it) and keeps the
// unread count current; a new notification is also announced to screen readers.
(function () {
  "use strict";
  function start() {
    var bell = document.getElementById("bell");
    if (!bell || !window.EventSource) return;
    var count = document.getElementById("bell-count");
    var src = new EventSource(bell.getAttribute("data-live"));
    src.addEventListener("notification", function (e) {
      var n;
      try { n = JSON.parse(e.data); } catch (_) { return; }
      if (count) {
        count.textContent = String(typeof n.unread === "number" ? n.unread : Number(count.textContent) + 1);
      }
      var toast = document.getElementById("toast");
      if (!toast) {
        toast = document.createElement("p");
        toast.id = "toast";
        toast.className = "notice";
        toast.setAttribute("role", "status");
        var main = document.getElementById("main");
        if (main) main.insertBefore(toast, main.firstChild);
      }
      toast.textContent = "새 알림: " + n.title;
      document.dispatchEvent(new CustomEvent("surge:notification", { detail: n }));
    });
    window.addEventListener("pagehide", function () { src.close(); });
  }
  // The waiting room: live position and ETA; admitted, back to the waiting URL,
  // which stores the pass and opens the seat map.
  function queue() {
    var box = document.getElementById("queue");
    if (!box || !window.EventSource) return;
    var src = new EventSource(box.getAttribute("data-live"));
    function set(id, v) { var el = document.getElementById(id); if (el) el.textContent = String(v); }
    src.addEventListener("position", function (e) {
      var q; try { q = JSON.parse(e.data); } catch (_) { return; }
      set("position", q.position); set("ahead", q.ahead); set("eta", q.eta_secs);
    });
    src.addEventListener("admitted", function () {
      src.close();
      set("queue-status", "차례가 되었습니다. 좌석 선택 화면으로 이동합니다.");
      window.location.assign(box.getAttribute("data-next"));
    });
    window.addEventListener("pagehide", function () { src.close(); });
  }
  function both() { start(); queue(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", both);
  else both();
})();
