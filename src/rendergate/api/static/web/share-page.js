// The share page (templates/share.html): drawn by the server, so it works with no script;
// this module only opens a result large in a dialog, with the arrow keys moving through
// them. Nothing here holds a key or calls the API: the link's own URLs are all it uses.

const viewer = document.getElementById("share-viewer");
const links = [...document.querySelectorAll(".share-enlarge")];
let shown = -1;
for (const move of viewer.querySelectorAll("[data-move]")) move.hidden = links.length < 2;

function show(index) {
  shown = (index + links.length) % links.length;
  const link = links[shown];
  const image = viewer.querySelector("img");
  image.src = link.href;
  image.alt = link.dataset.name;
  viewer.querySelector("h2").textContent = link.dataset.name;
  if (!viewer.open) viewer.showModal();
}

links.forEach((link, index) => {
  link.addEventListener("click", (event) => {
    if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    show(index);
  });
});

viewer.addEventListener("click", (event) => {
  const button = event.target.closest("button");
  if (event.target === viewer || button?.hasAttribute("data-close")) viewer.close();
  else if (button?.dataset.move) show(shown + Number(button.dataset.move));
});

viewer.addEventListener("keydown", (event) => {
  if (event.key === "ArrowRight") show(shown + 1);
  else if (event.key === "ArrowLeft") show(shown - 1);
});

viewer.addEventListener("close", () => links[shown]?.focus());
