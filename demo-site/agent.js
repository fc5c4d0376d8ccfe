// The demo console's own script: "End call" on a row asks Touchpoint for the post-call survey of
// that call. A real console would call Touchpoint.postCall from its telephony events.
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("button.end-call");
  if (!button || !window.Touchpoint) return;
  button.disabled = true;
  button.textContent = "Ended";
  Touchpoint.postCall({
    interactionId: button.dataset.call,
    agentId: "a-7",
    queue: button.dataset.queue,
    locale: button.dataset.locale
  });
});
