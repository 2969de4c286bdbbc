// The 3D viewer of `ehps serve`: three.js, driven by the job's scene description
// (GET /api/jobs/{id}/result -> .scene). Everything it shows comes from the files the pipeline
// wrote, so new outputs need no change here:
//   * animations: animated glTF files (a scene or one per track). Played with an AnimationMixer
//     at the timeline's time. They are in the world frame (Y up, floor at height 0).
//   * otherwise meshes: one GLB per frame and person, in the capture camera's frame (glTF axes:
//     x right, y up, the camera at the origin looking down -z). The viewer keeps one mesh per
//     person and swaps its vertex positions when the frame changes.
//   * camera: the capture camera's frustum from the intrinsics (focal, principal point, size).
//   * floor: from world.json when the pipeline estimated one; never guessed.
import * as THREE from 'three';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';

const DEG = Math.PI / 180;

function firstMesh(root) {
  let found = null;
  root.traverse((o) => { if (!found && o.isMesh) found = o; });
  return found;
}

// A floor plane {normal, point} in the viewer's (camera, glTF axes) frame, from world.json
// ({"floor": {"normal_cam": [3], "offset_cam_m": d}}: n . p + d = 0 for points p of the OpenCV
// camera frame), or null: no floor is drawn without one.
export function floorFromWorld(world) {
  const data = world && world.data;
  const f = data && data.floor;
  if (!f) return null;
  const n = f.normal_cam || f.normal;
  const d = f.offset_cam_m ?? f.offset_cam ?? f.offset;
  if (!Array.isArray(n) || n.length !== 3 || typeof d !== 'number') return null;
  const normal = new THREE.Vector3(n[0], -n[1], -n[2]);  // OpenCV -> glTF axes
  const len = normal.length();
  if (!(len > 0)) return null;
  let dist = d / len;
  normal.divideScalar(len);
  if (dist < 0) { normal.negate(); dist = -dist; }  // the camera is above the floor
  return { normal, point: normal.clone().multiplyScalar(-dist) };
}

export class Viewer {
  constructor(container, noteEl) {
    this.container = container;
    this.noteEl = noteEl;
    this.frame = 0;
    this.frames = new Map();      // frame -> Map(person -> Float32Array positions)
    this.people = new Map();      // person -> THREE.Mesh
    this.mixers = [];
    this.loaded = 0;
    this.total = 0;
    this.mode = 'none';
    this.renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
    container.appendChild(this.renderer.domElement);
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0xe9edf2);
    this.camera = new THREE.PerspectiveCamera(45, 4 / 3, 0.01, 2000);
    this.scene.add(this.camera);
    this.scene.add(new THREE.HemisphereLight(0xffffff, 0x7a808a, 1.6));
    const key = new THREE.DirectionalLight(0xffffff, 1.8);
    key.position.set(0.5, 1.0, 1.0);
    this.camera.add(key);  // the key light follows the view
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.addEventListener('change', () => this.requestRender());
    this.loader = new GLTFLoader();
    this.home = null;
    new ResizeObserver(() => this.resize()).observe(container);
    this.resize();
  }

  note(text) { if (this.noteEl) this.noteEl.textContent = text; }

  resize() {
    const w = Math.max(this.container.clientWidth, 1);
    const h = Math.max(this.container.clientHeight, 1);
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.requestRender();
  }

  requestRender() {
    if (this._pending) return;
    this._pending = true;
    requestAnimationFrame(() => {
      this._pending = false;
      this.renderer.render(this.scene, this.camera);
    });
  }

  renderNow() { this.renderer.render(this.scene, this.camera); }

  // Load a job's scene description; resolves when the first frame is shown.
  async load(desc) {
    this.desc = desc;
    const colors = new Map(desc.people.map((p) => [p.id, new THREE.Color(p.color)]));
    this.colors = colors;
    const anims = desc.animations || [];
    if (anims.length) {
      try {
        await this.loadAnimations(anims);
        this.mode = 'animation';
      } catch (err) {
        this.note(`animated files could not be shown (${err.message}); showing meshes`);
      }
    }
    if (this.mode !== 'animation') {
      this.mode = 'meshes';
      await this.loadMeshes(desc.meshes || []);
    }
    this.addCamera(desc.camera, this.mode === 'animation' ? desc.world : null);
    this.addFloor(desc.world);
    this.frameView();
    this.requestRender();
  }

  async loadAnimations(anims) {
    const scene = anims.filter((a) => /scene/i.test(a.name));
    const chosen = scene.length ? scene.slice(0, 1) : anims;
    let clips = 0;
    const order = [...this.colors.values()];
    let k = 0;
    for (const a of chosen) {
      const gltf = await this.loader.loadAsync(a.url);
      gltf.scene.traverse((o) => {
        if (/floor/i.test(o.name || '')) this.hasFloor = true;
        if (!o.isSkinnedMesh) return;  // people are skinned; the floor keeps its material
        const m = /(\d+)/.exec(o.name || '');
        const c = (m && this.colors.get(Number(m[1]))) || order[k++ % Math.max(order.length, 1)];
        o.material = new THREE.MeshStandardMaterial({ color: c || 0x8fb8f7, roughness: 0.6 });
        o.frustumCulled = false;
      });
      this.scene.add(gltf.scene);
      if (gltf.animations.length) {
        const mixer = new THREE.AnimationMixer(gltf.scene);
        gltf.animations.forEach((clip) => mixer.clipAction(clip).play());
        this.mixers.push(mixer);
        clips += gltf.animations.length;
      }
    }
    if (!clips) throw new Error('no animation in the files');
    this.mixers.forEach((m) => m.setTime(0));
  }

  async loadMeshes(frames) {
    const jobs = [];
    for (const f of frames) for (const p of f.people) jobs.push({ frame: f.frame, ...p });
    this.total = jobs.length;
    if (!jobs.length) { this.note('no meshes to show'); return; }
    const one = async (j) => {
      const res = await fetch(j.url);
      if (!res.ok) throw new Error(`${j.url}: HTTP ${res.status}`);
      const gltf = await this.loader.parseAsync(await res.arrayBuffer(), '');
      this.addPersonFrame(j.frame, j.person, firstMesh(gltf.scene).geometry);
      this.loaded++;
      if (j.frame === this.frame) this.setFrame(this.frame);
      this.note(this.loaded < this.total ? `loading 3D: ${this.loaded} / ${this.total} meshes`
        : `${this.total} mesh${this.total > 1 ? 'es' : ''} loaded`);
    };
    // the first frame before anything is shown, the others in the background (4 at a time)
    this.frame = jobs[0].frame;
    const head = jobs.filter((j) => j.frame === this.frame);
    await Promise.all(head.map(one));
    const rest = jobs.slice(head.length);
    let next = 0;
    const worker = async () => { while (next < rest.length) await one(rest[next++]); };
    this.rest = Promise.all([worker(), worker(), worker(), worker()]).catch((err) => {
      this.note(`some meshes could not be loaded: ${err.message}`);
    });
  }

  addPersonFrame(frame, person, geometry) {
    const pos = geometry.getAttribute('position').array;
    if (!this.frames.has(frame)) this.frames.set(frame, new Map());
    this.frames.get(frame).set(person, pos);
    if (!this.people.has(person)) {
      const g = new THREE.BufferGeometry();
      g.setAttribute('position', new THREE.BufferAttribute(new Float32Array(pos.length), 3)
        .setUsage(THREE.DynamicDrawUsage));
      if (geometry.index) g.setIndex(geometry.index);
      const mat = new THREE.MeshStandardMaterial({
        color: this.colors.get(person) || new THREE.Color(0x8fb8f7), roughness: 0.6,
        metalness: 0.0, side: THREE.DoubleSide });
      const mesh = new THREE.Mesh(g, mat);
      mesh.frustumCulled = false;
      mesh.visible = false;
      mesh.name = `person ${person}`;
      this.people.set(person, mesh);
      this.scene.add(mesh);
    }
  }

  // Show frame `i` (and time i / fps of the animations).
  setFrame(i) {
    this.frame = i;
    if (this.mode === 'animation') {
      const fps = this.desc.fps || 30;
      this.mixers.forEach((m) => m.setTime(i / fps));
    } else {
      const now = this.frames.get(i);
      if (!now && this.loaded < this.total) { this.requestRender(); return; }  // not loaded yet
      for (const [person, mesh] of this.people) {
        const pos = now && now.get(person);
        mesh.visible = !!pos;
        if (!pos) continue;
        const attr = mesh.geometry.getAttribute('position');
        attr.array.set(pos);
        attr.needsUpdate = true;
        mesh.geometry.computeVertexNormals();
        mesh.geometry.computeBoundingSphere();
      }
    }
    this.requestRender();
  }

  // The capture camera as a frustum: at the origin of the camera frame (meshes), or placed
  // with world.json's world_from_camera (animations, in the world frame).
  addCamera(cam, world) {
    if (!cam) return;
    let place = null;
    if (world) {
      const m = world.data && world.data.camera && world.data.camera.world_from_camera;
      if (!Array.isArray(m) || m.length !== 4) return;
      place = new THREE.Matrix4().set(...m.flat());
      const flip = new THREE.Matrix4().makeScale(1, -1, -1);  // glTF camera axes -> OpenCV
      place.multiply(flip);
      if (world.data.up_axis === 'z') {  // z-up world -> the viewer's y-up
        place.premultiply(new THREE.Matrix4().set(1, 0, 0, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 0, 0, 1));
      }
    }
    const [fx, fy] = cam.focal;
    const [cx, cy] = cam.princpt;
    const [h, w] = cam.image_hw;
    this.camera.fov = Math.min(Math.max(2 * Math.atan(h / 2 / fy) / DEG, 20), 75);
    this.camera.updateProjectionMatrix();
    const d = Math.min(Math.max(0.06 * this.centre().length(), 0.2), 2.0);
    const c = [[0, 0], [w, 0], [w, h], [0, h]].map(([u, v]) =>
      new THREE.Vector3((u - cx) / fx * d, -(v - cy) / fy * d, -d));
    const pts = [];
    for (let k = 0; k < 4; k++) pts.push(new THREE.Vector3(), c[k], c[k], c[(k + 1) % 4]);
    const up = [c[0].clone().lerp(c[1], 0.35), c[0].clone().lerp(c[1], 0.65)];
    const top = c[0].clone().lerp(c[1], 0.5).add(new THREE.Vector3(0, d * 0.15, 0));
    pts.push(up[0], top, top, up[1]);
    const geo = new THREE.BufferGeometry().setFromPoints(pts);
    const lines = new THREE.LineSegments(geo, new THREE.LineBasicMaterial({ color: 0x394150 }));
    lines.name = 'capture camera';
    if (place) lines.applyMatrix4(place);
    this.scene.add(lines);
  }

  addFloor(world) {
    let plane = null;
    if (this.mode === 'animation') {
      const hasFloor = world && world.data && world.data.floor;
      if (this.hasFloor || !hasFloor) return;  // drawn by the file, or unknown
      plane = { normal: new THREE.Vector3(0, 1, 0), point: new THREE.Vector3() };
    } else {
      plane = floorFromWorld(world);
    }
    if (!plane) return;
    const centre = this.centre().clone();
    const off = centre.clone().sub(plane.point).dot(plane.normal);
    const at = centre.sub(plane.normal.clone().multiplyScalar(off));
    const grid = new THREE.GridHelper(10, 20, 0x8a93a3, 0xc3c9d3);
    grid.quaternion.setFromUnitVectors(new THREE.Vector3(0, 1, 0), plane.normal);
    grid.position.copy(at);
    grid.name = 'floor grid';
    this.scene.add(grid);
  }

  centre() {
    const box = new THREE.Box3();
    if (this.mode === 'animation') {
      this.scene.traverse((o) => { if (o.isMesh) box.expandByObject(o); });
    } else {
      for (const mesh of this.people.values()) if (mesh.visible) box.expandByObject(mesh);
    }
    this._size = box.isEmpty() ? 1 : box.getSize(new THREE.Vector3()).length();
    return box.isEmpty() ? new THREE.Vector3(0, 0, -3) : box.getCenter(new THREE.Vector3());
  }

  // Look at the people from the capture camera's side, turned 25 degrees about them, at the
  // distance where all of them fit.
  frameView() {
    const target = this.centre();
    const dir = this.mode === 'animation' ? new THREE.Vector3(0, 0.1, 1)
      : new THREE.Vector3().sub(target);
    if (dir.length() < 1e-3) dir.set(0, 0, 1);
    const s = new THREE.Spherical().setFromVector3(dir.normalize());
    s.theta += 25 * DEG;
    s.phi = Math.max(s.phi - 8 * DEG, 5 * DEG);
    const half = Math.tan(this.camera.fov * DEG / 2) * Math.min(this.camera.aspect, 1);
    const dist = Math.max(0.5 * this._size / half, 1.5);
    const at = new THREE.Vector3().setFromSpherical(s).multiplyScalar(dist);
    this.home = { target, position: target.clone().add(at) };
    this.resetView();
  }

  resetView() {
    if (!this.home) return;
    this.camera.position.copy(this.home.position);
    this.controls.target.copy(this.home.target);
    this.controls.update();
    this.requestRender();
  }
}
