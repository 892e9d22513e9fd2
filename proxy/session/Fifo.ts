// Fifo owns a first-in first-out queue with O(1) shift that reuses its array (pipelined requests never cost quadratic time).
export class Fifo<T> {
  protected items: T[] = [];
  protected head = 0;

  get length(): number { return this.items.length - this.head; }
  peek(): T | undefined { return this.items[this.head]; }
  push(p: T): void { this.items.push(p); }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const p = this.items[this.head]!;
    (this.items as (T | undefined)[])[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      // a pipelining client may never let the queue drain: drop the consumed prefix now and then
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return p;
  }
  clear(): void {
    this.items.length = 0;
    this.head = 0;
  }
}
