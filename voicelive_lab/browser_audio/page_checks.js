// What this page allows (secure origin, VS Code's webview, browser support) and the learner's words for a
// failed getUserMedia. First part of the BrowserAudio ESM (widget.py joins page_checks.js, page_audio.js, widget.js).

const epochMs = () => performance.timeOrigin + performance.now();
const randomId = () => Math.random().toString(36).slice(2, 10) + Date.now().toString(36);

function inVsCode() {
  return (
    typeof globalThis.acquireVsCodeApi === 'function' ||
    /\bCode\/\d|vscode/i.test(navigator.userAgent) ||
    location.protocol.startsWith('vscode')
  );
}

// [state, message] when this page can never use the microphone, else null.
function pageProblem() {
  if (inVsCode()) {
    return [
      'blocked',
      "VS Code's notebook view does not let widgets use the microphone. Open the notebook in JupyterLab or " +
        'Notebook 7 in a browser to talk, or use the file microphone here.',
    ];
  }
  if (!globalThis.isSecureContext) {
    return [
      'insecure',
      `This page comes from ${location.origin} over plain http, and browsers allow the microphone only on https:// ` +
        'or localhost. Open Jupyter through https (or an SSH tunnel to localhost), or use the file microphone.',
    ];
  }
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || typeof AudioWorkletNode === 'undefined') {
    return ['unsupported', 'This browser gives pages no microphone or no AudioWorklet; use a current Chrome, Edge, ' +
      'Firefox or Safari, or the file microphone.'];
  }
  return null;
}

function describeMicError(error) {
  switch (error && error.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return ['denied', 'The browser denied the microphone. Allow it for this site (the icon in the address bar) ' +
        'and press Start again, or use the file microphone.'];
    case 'NotFoundError':
    case 'OverconstrainedError':
      return ['no-microphone', 'The browser found no microphone. Connect one and press Start again, or use the ' +
        'file microphone.'];
    case 'NotReadableError':
    case 'AbortError':
      return ['unavailable', 'The microphone could not be opened (another program may be using it). Close that ' +
        'program and press Start again.'];
    default:
      return ['error', `The microphone could not start: ${error}`];
  }
}

const LABELS = {
  off: 'off',
  starting: 'starting…',
  listening: 'listening',
  ready: 'ready',
  playing: 'playing',
  suspended: 'waiting for a click',
};
const PROBLEMS = new Set(['denied', 'no-microphone', 'unavailable', 'insecure', 'blocked', 'unsupported', 'error',
  'ended']);

