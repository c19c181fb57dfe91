// smimed's own script: opens and closes the dialogs. Loaded from a file so
// that the Content-Security-Policy can forbid inline scripts.
"use strict";
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-open]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.open);
    if (dialog) {
      dialog.showModal();
    }
    return;
  }
  const closer = event.target.closest("[data-close]");
  if (closer) {
    const dialog = closer.closest("dialog");
    if (dialog) {
      dialog.close();
    }
  }
});
// After a successful import, empty the form so a second file starts clean;
// the result stays visible.
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  if (event.detail.successful && form.matches && form.matches("dialog form")) {
    for (const field of form.querySelectorAll("textarea, input[type=file], input[type=password]")) {
      field.value = "";
    }
  }
});
