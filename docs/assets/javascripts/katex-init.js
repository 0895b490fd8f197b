// Typesets the maths that pymdownx.arithmatex (generic mode) leaves as \( … \) and \[ … \] inside
// .arithmatex elements, with the KaTeX files shipped beside this script (no network needed).
function renderMath() {
  document.querySelectorAll(".arithmatex").forEach(function (element) {
    renderMathInElement(element, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
    });
  });
}

if (typeof document$ !== "undefined") {
  document$.subscribe(renderMath); // Material's page-load observable (instant navigation too)
} else {
  document.addEventListener("DOMContentLoaded", renderMath);
}
