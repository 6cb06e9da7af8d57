/** The NIXL part of the addon's surface (cpp/binding/nixl.cpp). Internal. */

/** What the native loader found. */
export interface NativeProbe {
  state: 'loaded' | 'not-installed' | 'load-failed' | 'entry-point-missing' | 'stub';
  library: string;
  missingSymbol: string;
  reason: string;
  searched: string[];
}

/** A plugin's or a live backend's declared memory types and parameters. */
export interface NativeBackendInfo {
  memTypes: string[];
  params: Record<string, string>;
}

/** nixlAgentConfig, with every field present (lib/nixl/options.ts applies the defaults). */
export interface NativeAgentConfig {
  progressThread: boolean;
  listener: boolean;
  listenPort: number;
  threadSync: number;
  progressDelayUs: number;
  listenerDelayUs: number;
  telemetry: boolean;
}

declare module '../binding.js' {
  interface NativeBinding {
    nixlProbe(candidates: string[]): NativeProbe;
    nixlEntryPoints(): string[];
    nixlCreateAgent(name: string, config: NativeAgentConfig): NativeHandle;
    nixlCloseAgent(agent: NativeHandle): void;
    nixlAgentState(agent: NativeHandle): {
      closed: boolean;
      liveRequests: number;
      livePrepared: number;
    };
    nixlPlugins(agent: NativeHandle): string[];
    nixlPluginParams(agent: NativeHandle, plugin: string): NativeBackendInfo;
    nixlCreateBackend(
      agent: NativeHandle,
      type: string,
      params: Record<string, string>,
    ): NativeBackendInfo;
    nixlRegister(
      agent: NativeHandle,
      memType: number,
      descs: BigUint64Array,
      backend: string,
    ): void;
    nixlDeregister(
      agent: NativeHandle,
      memType: number,
      descs: BigUint64Array,
      backend: string,
    ): void;
    nixlLocalMetadata(agent: NativeHandle): Buffer;
    nixlLoadRemoteMetadata(agent: NativeHandle, blob: Uint8Array): string;
    nixlInvalidateRemote(agent: NativeHandle, name: string): void;
    nixlNotifications(agent: NativeHandle): [sender: string, messages: Buffer[]][];
    nixlSendNotification(
      agent: NativeHandle,
      remoteAgent: string,
      message: Uint8Array,
      backend: string,
    ): void;
    nixlCreateXfer(
      agent: NativeHandle,
      op: number,
      localType: number,
      local: BigUint64Array,
      remoteType: number,
      remote: BigUint64Array,
      remoteAgent: string,
      backend: string,
      notification: Uint8Array | null,
    ): NativeHandle;
    nixlPrepare(
      agent: NativeHandle,
      agentName: string,
      memType: number,
      descs: BigUint64Array,
      backend: string,
    ): NativeHandle;
    nixlReleasePrepared(list: NativeHandle): boolean;
    nixlMakeXfer(
      agent: NativeHandle,
      op: number,
      local: NativeHandle,
      localIndices: Int32Array,
      remote: NativeHandle,
      remoteIndices: Int32Array,
      backend: string,
      notification: Uint8Array | null,
    ): NativeHandle;
    nixlPost(request: NativeHandle): Promise<void>;
    nixlXferState(request: NativeHandle): 'ready' | 'in-flight' | 'done' | 'failed' | 'released';
    nixlReleaseXfer(request: NativeHandle): boolean;
  }
}

/** NIXL's memory types, numbered as nixl_mem_t. */
export const memTypeNumber = { DRAM: 0, VRAM: 1, BLOCK: 2, OBJECT: 3, FILE: 4 } as const;
