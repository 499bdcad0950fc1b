/*
 * The verifier page reads a picture of the holder's QR code in the browser (jsQR) and puts
 * its text into the presentation field. Hook: <input type="file" data-qr-target="id">.
 * A scanner that types, or pasting, fills the same field without this script.
 */
(function () {
  "use strict";

  function read(input) {
    var target = document.getElementById(input.getAttribute("data-qr-target"));
    var status = document.getElementById(input.getAttribute("data-qr-status"));
    var file = input.files && input.files[0];
    if (!target || !file || typeof jsQR !== "function") return;
    var image = new Image();
    var reader = new FileReader();
    image.onload = function () {
      var canvas = document.createElement("canvas");
      canvas.width = image.naturalWidth;
      canvas.height = image.naturalHeight;
      var context = canvas.getContext("2d");
      context.drawImage(image, 0, 0);
      var pixels = context.getImageData(0, 0, canvas.width, canvas.height);
      var found = jsQR(pixels.data, pixels.width, pixels.height);
      if (found && found.data) {
        target.value = found.data;
        if (status) status.textContent = status.getAttribute("data-ok");
        input.dispatchEvent(new CustomEvent("qr-read", { bubbles: true }));
      } else if (status) {
        status.textContent = status.getAttribute("data-none");
      }
    };
    // A data: URL (the CSP allows data: images, not blob: ones).
    reader.onload = function () { image.src = reader.result; };
    reader.readAsDataURL(file);
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input && input.matches && input.matches("input[type=file][data-qr-target]")) read(input);
  });
})();
