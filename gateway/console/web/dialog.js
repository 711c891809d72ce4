// Confirmation before a change, in the page's own <dialog id="confirm">
// (window.confirm blocks the page and cannot be styled or tested).

// Resolves true for "Confirm"; false for "Cancel", Escape, or a switch of view.
export function confirmAction(text, yesLabel = 'Confirm') {
  const dialog = document.getElementById('confirm');
  if (!dialog || dialog.open) return Promise.resolve(false);
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-yes').textContent = yesLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
    dialog.showModal();
    document.getElementById('confirm-no').focus(); // the safe answer is the default
  });
}

export function closeConfirm() {
  const dialog = document.getElementById('confirm');
  if (dialog && dialog.open) dialog.close('');
}
