// The console's own few lines of script (everything else is htmx).
// - After an action the server accepted (X-Console-Outcome: ok), the form
//   that sent it is reset, so a second click does not send it again.
// - The events feed's "waiting" note goes once the first op arrives.
// - Focus moves to a refusal message, so keyboard and screen-reader users
//   hear it.
document.addEventListener("htmx:afterRequest", function (event) {
  var xhr = event.detail.xhr;
  var form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form") : null;
  if (!xhr || !form) return;
  if (xhr.getResponseHeader("X-Console-Outcome") === "ok" && form.id) form.reset();
});
document.addEventListener("htmx:afterSwap", function (event) {
  var target = event.detail.target;
  if (target && target.id === "flash") {
    var refused = target.querySelector("[data-outcome=refused]");
    if (refused) {
      refused.setAttribute("tabindex", "-1");
      refused.focus();
    }
  }
});
document.addEventListener("htmx:sseMessage", function () {
  var empty = document.getElementById("feed-empty");
  var feed = document.getElementById("feed");
  if (empty && feed && feed.children.length > 0) empty.remove();
});
