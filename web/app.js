'use strict';
// The catdog mirror page: sends a photo to /api/predict and draws the
// answer (verdict, face box, Grad-CAM heat map). No network beyond this server.

const $ = (id) => document.getElementById(id);
let photo = null;        // {blob, name, image}: the photo being shown
let answer = null;       // the last /api/predict answer
let heatImage = null;    // its heat map, decoded
let stream = null;       // the webcam, while on

function say(text) { $('status').textContent = text; }

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error('the browser cannot show this image'));
    image.src = url;
  });
}

async function usePhoto(blob, name) {
  try {
    const image = await loadImage(URL.createObjectURL(blob));
    photo = { blob, name, image };
    await predict();
  } catch (error) {
    say('Sorry: ' + error.message);
  }
}

async function predict() {
  if (!photo) return;
  const crop = document.querySelector('input[name=crop]:checked').value;
  say('Looking…');
  const form = new FormData();
  form.append('image', photo.blob, photo.name);
  let body;
  try {
    const response = await fetch('/api/predict' + (crop === 'face' ? '?crop=face' : ''), { method: 'POST', body: form });
    body = await response.json();
    if (!response.ok) throw new Error(body.error || response.statusText);
  } catch (error) {
    say('Sorry: ' + error.message);
    return;
  }
  answer = body;
  heatImage = await loadImage('data:image/png;base64,' + body.heatmap);
  show();
  say('');
}

// A cat/dog model answers with its dog/cat bar; any other, with its top 3 classes as bars.
function isCatDog(classes) { return classes.length === 2 && classes.includes('cat') && classes.includes('dog'); }

function topClasses(count) {
  return Object.entries(answer.probabilities).sort((a, b) => b[1] - a[1]).slice(0, count);
}

function showTop() {
  const list = $('top');
  list.replaceChildren(...topClasses(3).map(([name, p]) => {
    const row = document.createElement('li');
    const percent = Math.round(p * 100);
    row.innerHTML = '<span class="name"></span><span class="bar"><span></span></span><span class="share"></span>';
    row.querySelector('.name').textContent = name;
    row.querySelector('.bar span').style.width = percent + '%';
    row.querySelector('.share').textContent = percent + '%';
    row.setAttribute('aria-label', `${name}: ${percent}%`);
    return row;
  }));
}

function show() {
  const catDog = isCatDog(Object.keys(answer.probabilities));
  $('sentence').textContent = answer.sentence;
  $('dogcat').hidden = !catDog;
  $('top').hidden = catDog;
  if (catDog) $('dogbar').style.width = Math.round(answer.dog * 100) + '%';
  else showTop();
  const face = answer.face.found ? 'a face was found (outlined)' : 'no face was found';
  const what = answer.classified === 'face' ? 'the face' : 'the whole photo';
  const likeMost = answer.classified === 'face' && answer.face.found && !catDog ? ` That face looks most like ${topClasses(1)[0][0]}.` : '';
  $('caption').textContent = `Classified ${what}; ${face}.${likeMost}` +
      ($('showheat').checked ? ` Red marks what made it say ${answer.explained}.` : '');
  $('canvas').setAttribute('aria-label', `Your photo: ${answer.sentence} ${face}.`);
  $('result').hidden = false;
  draw();
}

function draw() {
  const canvas = $('canvas');
  const image = photo.image;
  // The photo's own pixels, at most 1024 wide: CSS scales it to the screen.
  const scale = Math.min(1, 1024 / image.naturalWidth);
  canvas.width = Math.round(image.naturalWidth * scale);
  canvas.height = Math.round(image.naturalHeight * scale);
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0, canvas.width, canvas.height);
  const toCanvas = (box) => box.map((v) => v * canvas.width / answer.image.width);
  if ($('showheat').checked && heatImage) {
    const [x, y, w, h] = toCanvas(answer.heatmap_box);
    context.globalAlpha = 0.6;
    context.drawImage(heatImage, x, y, w, h);
    context.globalAlpha = 1;
  }
  if (answer.face.found) {
    const [x, y, w, h] = toCanvas(answer.face.box);
    context.lineWidth = Math.max(2, canvas.width / 200);
    context.strokeStyle = '#ffd400';
    context.strokeRect(x, y, w, h);
  }
}

async function startCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say('This browser gives no webcam here (it needs http://localhost or https).');
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'user' }, audio: false });
  } catch (error) {
    say('No webcam: ' + error.message);
    return;
  }
  const video = $('video');
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  $('shoot').hidden = false;
  $('shoot').focus();
}

function takePhoto() {
  const video = $('video');
  const frame = document.createElement('canvas');
  frame.width = video.videoWidth;
  frame.height = video.videoHeight;
  frame.getContext('2d').drawImage(video, 0, 0);
  stream.getTracks().forEach((track) => track.stop());
  stream = null;
  video.hidden = true;
  $('shoot').hidden = true;
  frame.toBlob((blob) => usePhoto(blob, 'webcam.jpg'), 'image/jpeg', 0.92);
}

$('file').addEventListener('change', (event) => {
  const file = event.target.files[0];
  if (file) usePhoto(file, file.name);
});
const drop = $('drop');
drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  const file = event.dataTransfer.files[0];
  if (file) usePhoto(file, file.name);
});
$('camera').addEventListener('click', startCamera);
$('shoot').addEventListener('click', takePhoto);
document.querySelectorAll('input[name=crop]').forEach((radio) => radio.addEventListener('change', predict));
$('showheat').addEventListener('change', () => { if (answer) show(); });

fetch('/api/model').then((response) => response.json()).then((model) => {
  if (!isCatDog(model.classes)) {
    const question = 'Mirror, mirror: which of these do I look like most?';
    $('question').textContent = question;
    $('classes').textContent = `This model knows ${model.classes.length} classes: ${model.classes.join(', ')}.`;
    $('classes').hidden = false;
    document.title = `catdog mirror: ${model.classes.join(', ')}`;
  }
  const accuracy = model.test_accuracy ?? model.validation_accuracy;
  $('model').textContent = `Model: ${model.model}, trained ${model.trained.slice(0, 10)}` +
      (accuracy != null ? `, ${Math.round(accuracy * 100)}% right on held-out photos` : '') + '.';
}).catch(() => {});
