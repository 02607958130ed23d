// The console's one enhancement beside htmx: the import form's progress bar follows the
// upload (htmx's `htmx:xhr:progress`), and a refused import (422) still shows its bad lines.
// A file, not an inline script, because the pages' policy is `script-src 'self'`.
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  if (!form) {
    return;
  }
  var bar = document.getElementById("import-progress");
  form.addEventListener("htmx:xhr:progress", function (evt) {
    if (bar && evt.detail.lengthComputable && evt.detail.total > 0) {
      bar.value = Math.round((evt.detail.loaded / evt.detail.total) * 100);
    }
  });
  // htmx fires beforeSwap on the element it swaps into, outside the form.
  document.body.addEventListener("htmx:beforeSwap", function (evt) {
    if (evt.detail.requestConfig && evt.detail.requestConfig.elt === form &&
        evt.detail.xhr.status === 422) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });
})();
