// Timers exist in every runtime the shared code runs in (Node, the webview, the engine process); declare just these.
declare function setTimeout(handler: () => void, ms?: number): unknown;
declare function clearTimeout(id: unknown): void;
