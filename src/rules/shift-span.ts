/** A shift or a quiet-hours span of one local day, in minutes since midnight (an overnight one ends past 24:00). */
export interface ShiftSpan {
  startMin: number;
  endMin: number;
}
