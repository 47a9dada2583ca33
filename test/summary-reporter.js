// Prints one plain closing line, `jest: N passed, N failed[, N skipped]`, that any CI log reader understands.
class SummaryReporter {
  onRunComplete(_contexts, r) {
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`);
  }
}
module.exports = SummaryReporter;
