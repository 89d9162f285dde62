/**
 * A point a request handler waits at until the test opens it: concurrency
 * scenarios are ordered by the test, never by timing. `reached` resolves when
 * the handler arrives, so the test knows the request is in flight.
 */
export class Gate {
  readonly reached: Promise<void>;
  private readonly opened: Promise<void>;
  private markReached!: () => void;
  private markOpened!: () => void;

  constructor() {
    this.reached = new Promise((resolve) => (this.markReached = resolve));
    this.opened = new Promise((resolve) => (this.markOpened = resolve));
  }

  /** Called by the handler: resolves once the test opens the gate. */
  pass(): Promise<void> {
    this.markReached();
    return this.opened;
  }

  open(): void {
    this.markOpened();
  }
}

/** Named gates shared by a test and the app under test (provide it with `useValue`). */
export class Gates {
  private readonly gates = new Map<string, Gate>();

  get(name: string): Gate {
    let gate = this.gates.get(name);
    if (!gate) this.gates.set(name, (gate = new Gate()));
    return gate;
  }

  /** Opens every gate, so that no request stays parked when a test fails half-way. */
  openAll(): void {
    for (const gate of this.gates.values()) gate.open();
  }
}
