// The card's new-patient form, used by desk.js: the patient's language (the clinic's default for
// new patients, asked explicitly), names in the order that language writes them (patronymic for
// Russian), sex, birth date, several numbers with labels; a possible duplicate is shown with a
// link to the existing card before anything is created.
window.DeskPatientForm = (() => {
  "use strict";
  const LANGUAGES = [["ru", "Русский"], ["en", "English"], ["zh", "中文"]];
  const LABELS = ["mobile", "home", "work", "family"];
  // Which name fields a language needs, in the order it writes them.
  const NAME_ORDER = {ru: ["last_name", "first_name", "patronymic"], en: ["first_name", "last_name"], zh: ["last_name", "first_name"]};

  function names(kit, language, kept) {
    const {esc, T} = kit;
    return (NAME_ORDER[language] || NAME_ORDER.en).map((name) => `<input name="${name}" placeholder="${esc(T[name])}" aria-label="${esc(T[name])}" value="${esc(kept[name] || "")}">`).join("");
  }

  function phoneRow(kit, number, label) {
    const {esc, T} = kit;
    return `<div class="phone-row"><input name="phone" type="tel" value="${esc(number)}" aria-label="${esc(T.phone)}" placeholder="${esc(T.phone)}">
      <select name="phone_label" aria-label="${esc(T.phone)}">${LABELS.map((l) => `<option value="${l}"${l === label ? " selected" : ""}>${esc(T[`label.${l}`])}</option>`).join("")}</select></div>`;
  }

  function html(card, kit) {
    const {esc, T} = kit;
    const language = card.new_patient_language || "ru";
    return `<form class="new-patient" data-form="new-patient">
        <h4>${esc(T.create_patient)}</h4>
        <label class="inline">${esc(T.language)} <select name="language">${LANGUAGES.map(([code, name]) => `<option value="${code}"${code === language ? " selected" : ""}>${esc(name)}</option>`).join("")}</select></label>
        <div class="names">${names(kit, language, {})}</div>
        <div class="row">
          <label class="inline">${esc(T.sex)} <select name="sex"><option value="unknown">—</option><option value="female">${esc(T["sex.female"])}</option><option value="male">${esc(T["sex.male"])}</option></select></label>
          <label class="inline">${esc(T.birth_date)} <input type="date" name="birth_date"></label>
        </div>
        <div class="phones">${phoneRow(kit, card.call.number_e164 || "", "mobile")}</div>
        <button type="button" class="ghost" data-act="add-phone">+ ${esc(T.add_phone)}</button>
        <button type="submit">${esc(T.create_patient)}</button><span class="form-error" role="alert"></span>
        <div class="duplicates" hidden></div></form>`;
  }

  // The form follows the chosen language: its name fields and their order (typed text kept).
  function onChange(kit, ev) {
    const form = ev.target.form;
    if (!form || form.dataset.form !== "new-patient" || ev.target.name !== "language") return;
    const kept = Object.fromEntries(NAME_ORDER.ru.map((n) => [n, form[n] ? form[n].value : ""]));
    form.querySelector(".names").innerHTML = names(kit, ev.target.value, kept);
  }

  function onClick(kit, ev) {
    const target = ev.target.closest("[data-act=add-phone]");
    if (!target) return false;
    const phones = target.form.querySelector(".phones");
    phones.insertAdjacentHTML("beforeend", phoneRow(kit, "", "home"));
    phones.lastElementChild.querySelector("input").focus();
    return true;
  }

  function body(form, anyway) {
    const phones = [...form.querySelectorAll(".phone-row")].map((row) => ({number: row.querySelector("[name=phone]").value, label: row.querySelector("[name=phone_label]").value}));
    const value = (name) => (form[name] ? form[name].value : "");
    return {last_name: value("last_name"), first_name: value("first_name"), patronymic: value("patronymic"),
      language: form.language.value, sex: form.sex.value, birth_date: form.birth_date.value || null, phones, create_anyway: anyway};
  }

  function showDuplicates(kit, form, data) {
    const {esc, T} = kit;
    const box = form.querySelector(".duplicates");
    box.innerHTML = `<p class="rule">${esc(data.message)}</p><ul>${data.duplicates.map((d) => `<li><a href="${esc(d.url)}" target="_blank" rel="noopener">${esc(d.name)}</a>${d.birth_date ? " · " + esc(d.birth_date) : ""} · ${esc(T[`duplicate.${d.reason}`])}
        <button type="button" data-act="pick" data-patient="${d.id}">${esc(T.use_this)}</button></li>`).join("")}</ul>
      <button type="button" data-act="create-anyway" class="bad">${esc(T.create_anyway)}</button>`;
    box.hidden = false;
    box.querySelector("a").focus();
  }

  // The card of the new patient, or null when a possible duplicate was shown instead.
  async function submit(kit, form, callId, anyway) {
    try {
      return await kit.api("POST", `/api/desk/calls/${callId}/new-patient`, body(form, anyway));
    } catch (err) {
      if (err.status === 409 && err.data.duplicates) { showDuplicates(kit, form, err.data); return null; }
      const field = err.data && err.data.field && form.querySelector(`[name="${CSS.escape(String(err.data.field).split(".")[0] === "phones" ? "phone" : err.data.field)}"]`);
      if (field) field.focus();
      throw err;
    }
  }

  return {html, onChange, onClick, submit};
})();
