/**
 * How a rules file writes a shift or a window of the day ("09:00-21:00", overnight "21:00-09:00"), and its minutes.
 * Schedules, call windows and quiet hours are all made of it.
 */
import { z } from 'zod';
import type { ShiftSpan } from '../types.js';

const TIME = /^([01]\d|2[0-4]):([0-5]\d)$/;
export const ShiftSchema = z
  .string()
  .regex(/^\d\d:\d\d-\d\d:\d\d$/, 'must look like "09:00-21:00"')
  .refine((s) => {
    const [a, b] = s.split('-');
    return TIME.test(a ?? '') && TIME.test(b ?? '') && (a ?? '') !== (b ?? '');
  }, 'must be two different times of day HH:MM; an overnight shift such as "21:00-09:00" is allowed')
  .describe('A shift in local time, "HH:MM-HH:MM"');

export function parseShift(text: string): ShiftSpan {
  const [a = '00:00', b = '00:00'] = text.split('-');
  const minutes = (t: string): number => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));
  const start = minutes(a);
  let end = minutes(b);
  if (end <= start) end += 1440; // overnight shift
  return { startMin: start, endMin: end };
}
