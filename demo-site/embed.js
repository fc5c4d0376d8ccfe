// The /embed page's side of the iframe fallback (widget/loader/fallback.js): the page that frames
// it asks it to open the survey, which focuses it, and hears Escape, so that page's launcher closes
// the panel and takes the focus back. The message to the parent carries no data, so any parent may
// hear it.
addEventListener("message", function (e) {
  if (e.source === parent && e.data === "touchpoint:open") Touchpoint.open();
});
addEventListener("keydown", function (e) {
  if (e.key === "Escape" && parent !== window) parent.postMessage("touchpoint:close", "*");
});
