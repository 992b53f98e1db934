/** HostApi of the protocol as a type the RpcChannel accepts. */
import type { HostApi as HostApiInterface } from '../shared/protocol';

/**
 * The same methods as protocol.ts' HostApi. NOTE: an interface has no implicit index signature, so it
 * does not satisfy RpcChannel's `Api` constraint; a mapped type of it does.
 */
export type HostApi = { [M in keyof HostApiInterface]: HostApiInterface[M] };
