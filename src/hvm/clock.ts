/**
 * The machine's virtual clock: host monotonic time since the machine was
 * created, stopped while the machine is paused. Every time source the guest
 * sees (TSC, PIT, RTC, APIC timer, ACPI PM timer) reads this one clock, so
 * they agree with each other and with the wall clock while the guest runs.
 */
import type { Clock } from './device.js';

export class HostClock implements Clock {
  private origin = performance.now();
  private pausedAt: number | null = null;

  nowNs(): number {
    const t = this.pausedAt ?? performance.now();
    return Math.floor((t - this.origin) * 1e6);
  }

  /** Stop time (a paused domain sees no time pass). */
  pause(): void {
    this.pausedAt ??= performance.now();
  }

  resume(): void {
    if (this.pausedAt === null) return;
    this.origin += performance.now() - this.pausedAt;
    this.pausedAt = null;
  }

  /** Milliseconds of host time until the clock reads `ns` (0 if it already has). */
  msUntil(ns: number): number {
    return Math.max(0, (ns - this.nowNs()) / 1e6);
  }
}
