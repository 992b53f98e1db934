/** The webview end of the host channel: acquireVsCodeApi() wrapped in the shared RpcChannel. */
import type { HostSide, PanelState, WebviewSide } from '../shared/protocol';
import { RpcChannel, type RpcMessage } from '../shared/rpc';

/** What acquireVsCodeApi() returns inside a VS Code webview. */
export interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

/** The webview's channel to the host: calls HostApi, hears HostEvents, emits WebviewEvents. */
export type HostChannel = RpcChannel<HostSide, WebviewSide>;

/** The channel to the host plus the webview's own state persistence. */
export interface HostBridge {
  channel: HostChannel;
  getState(): PanelState | undefined;
  setState(state: PanelState): void;
  dispose(): void;
}

/** Connect to the host (once per page: acquireVsCodeApi may only be called once). */
export function connectHost(win: Window): HostBridge {
  const api = acquireVsCodeApi();
  const channel: HostChannel = new RpcChannel<HostSide, WebviewSide>((m: RpcMessage) => api.postMessage(m));
  const onMessage = (ev: MessageEvent): void => channel.receive(ev.data);
  win.addEventListener('message', onMessage);
  return {
    channel,
    getState: () => (api.getState() as PanelState | undefined) ?? undefined,
    setState: (s) => api.setState(s),
    dispose: () => {
      win.removeEventListener('message', onMessage);
      channel.dispose();
    },
  };
}
