// Loaded after require.js and before the ipywidgets embedder on pages that show widgets
// (nb_ipywidgets_js in _config.yml). Two adjustments let the embedder run on this site:
(function () {
  // 1. The embedder loads its icon fonts from the folder RequireJS maps its module name to,
  //    by default the page's own folder. Map it to the copy served in _static/vendor/.
  var vendor = new URL("vendor/", document.currentScript.src).href;
  requirejs.config({
    paths: { "@jupyter-widgets/html-manager/dist": vendor + "html-manager-1.0.15" },
  });

  // 2. Widgets typeset their labels with the MathJax 2 call
  //    MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]); the site runs MathJax 3, which
  //    has no Hub. Provide that one call on top of MathJax 3 once MathJax has loaded (its
  //    script is deferred, so it has run by DOMContentLoaded).
  document.addEventListener("DOMContentLoaded", function () {
    var mathjax = window.MathJax;
    if (!mathjax || mathjax.Hub || !mathjax.startup) return;
    mathjax.Hub = {
      Queue: function (job) {
        var element = Array.isArray(job) ? job[2] : null;
        if (!element) return;
        mathjax.startup.promise.then(function () {
          return mathjax.typesetPromise([element]);
        });
      },
    };
  });
})();
