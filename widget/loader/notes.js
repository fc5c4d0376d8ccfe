// The console messages for a script tag's wrong or missing settings, open()'s wrong options, a
// second tag and postCall() off an agent page, which the loader checks (for every module). The loader imports this
// module only when one is wrong, so a page whose tag is right never downloads these words.
// Lines starting with // are removed from the built file.
var V = " invalid (1-64 characters of A-Z a-z 0-9 . _ : / -)", N = [
  [1, "no collector URL (the loader derives it from the script's src); nothing is sent"],
  [1, "data-touchpoint is missing or" + V + "; the survey is not shown"],
  [0, 'data-mode must be "launcher", "inline", "kiosk" or "agent"; using launcher'],
  [1, 'data-mode="inline" needs data-target, a CSS selector of the element to render into'],
  [0, "data-locale must be one of en, es, fr, de, ar; using the browser's language"],
  [0, "data-segment is" + V + "; ignored"],
  [0, "data-interaction or interactionId is" + V + "; ignored"],
  [0, "the widget is already on this page; the second script tag is ignored"],
  [1, 'postCall works with data-mode="agent" and data-agent-key on the script tag']
];
// Message n: an error where the widget cannot work as asked, else a warning.
export function say(n) {
  console[N[n][0] ? "error" : "warn"]("touchpoint: " + N[n][1]);
}
