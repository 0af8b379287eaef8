// What the pages share about forms: an error shown at its field (a 422's message, or a check made
// before sending), and a Retry-After in words. Every text is written with textContent.

/** Shows `message` at `input` (in the element named by its id + '-error') and marks it invalid. */
export function showFieldError(input, message) {
  const note = document.getElementById(`${input.id}-error`);
  note.textContent = message;
  note.hidden = false;
  input.setAttribute('aria-invalid', 'true');
}

/** Hides every field error of `form`. */
export function clearFieldErrors(form) {
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  for (const note of form.querySelectorAll('.field-error')) {
    note.textContent = '';
    note.hidden = true;
  }
}

/**
 * Shows a 422's messages at the inputs of `form` named as the API's fields, and focuses the first;
 * whether any found its field (if none did, the caller shows the error as a whole).
 */
export function showFieldErrors(form, err) {
  const inputs = Object.entries(err.fields ?? {})
    .map(([field, message]) => [form.elements.namedItem(field), message])
    .filter(([input]) => input instanceof HTMLInputElement && input.id);
  for (const [input, message] of inputs) showFieldError(input, message);
  inputs[0]?.[0].focus();
  return inputs.length > 0;
}

/** How long `seconds` (a Retry-After) is, in words: "40 seconds", "12 minutes", "2 hours". */
export function inWords(seconds) {
  const plural = (n, unit) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (seconds < 60) return plural(Math.max(1, Math.ceil(seconds)), 'second');
  if (seconds <= 90 * 60) return plural(Math.ceil(seconds / 60), 'minute');
  return plural(Math.ceil(seconds / 3600), 'hour');
}
