// The staff form: specialties matter only for doctors, a login and password only for the
// roles that sign in. Without this script every field stays visible and the server decides.
(function () {
  "use strict";
  var role = document.getElementById("role");
  if (!role) { return; }
  function show() {
    var doctor = role.value === "doctor";
    document.querySelectorAll(".doctor-only").forEach(function (el) { el.hidden = !doctor; });
    document.querySelectorAll(".signs-in").forEach(function (el) { el.hidden = doctor; });
  }
  role.addEventListener("change", show);
  show();
}());
