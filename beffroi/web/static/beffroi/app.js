// Small progressive enhancements; every page works without JavaScript.
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit")) {
    target.form.submit();
  }
});

// Menus built on <details>: Escape closes the open one and gives focus back to its summary.
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of document.querySelectorAll("details.menu[open]")) {
    menu.removeAttribute("open");
    menu.querySelector("summary").focus();
  }
});

// Clicking elsewhere closes open menus.
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.menu[open]")) {
    if (!menu.contains(event.target)) menu.removeAttribute("open");
  }
});

// Ask before destructive actions (forms marked data-confirm).
document.addEventListener("submit", (event) => {
  const message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});

// Composer: choose every page of a group at once ("toutes les pages régionales"). Without JavaScript the
// button stays hidden and pages are ticked one by one.
for (const button of document.querySelectorAll("[data-select-group]")) {
  button.hidden = false;
  button.addEventListener("click", () => {
    const boxes = button.closest("fieldset").querySelectorAll('input[type="checkbox"]');
    const all = Array.from(boxes).every((box) => box.checked);
    for (const box of boxes) box.checked = !all;
    button.closest("form").dispatchEvent(new Event("change", { bubbles: true }));
  });
}

// Composer: insert a saved hashtag set at the end of the text (without JavaScript the set is shown to copy).
for (const button of document.querySelectorAll("[data-hashtags]")) {
  button.addEventListener("click", () => {
    const text = document.getElementById("text");
    const tags = button.getAttribute("data-hashtags");
    text.value = text.value.trimEnd() + (text.value.trim() ? "\n\n" : "") + tags;
    text.dispatchEvent(new Event("input", { bubbles: true }));
    text.focus();
  });
}
