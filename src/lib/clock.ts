/** Time is a parameter: the shell reads this clock, the rules get `now` from it. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock tests move by hand. */
export function createManualClock(
  start: Date | string,
): Clock & { set(at: Date | string): void; advance(ms: number): void } {
  let current = new Date(start);
  return {
    now: () => new Date(current),
    set: (at) => {
      current = new Date(at);
    },
    advance: (ms) => {
      current = new Date(current.getTime() + ms);
    },
  };
}

/**
 * amoCRM stamps notes, tasks and events in whole seconds; the service decides in milliseconds. An amoCRM instant
 * (`amoMs`, a whole second) is "at or after" one of ours when it is in the same second or later: compared at
 * amoCRM's precision, a call logged in the second the robot set the task counts for that task.
 */
export const atOrAfterAtAmoPrecision = (amoMs: number, ourMs: number): boolean =>
  amoMs >= Math.floor(ourMs / 1000) * 1000;
