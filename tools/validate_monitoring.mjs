// Validates Prometheus Operator objects (JSON documents, one array on stdin) against the
// schemas of @kubernetes-models/prometheus-operator (pinned in tools/package.json), offline.
// Prints one line per invalid object and exits 1 if any; 0 when every object is valid.
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";

const KINDS = { ServiceMonitor, PodMonitor, PrometheusRule };
let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  let failed = 0;
  for (const document of JSON.parse(input)) {
    const Model = KINDS[document.kind];
    try {
      if (!Model) throw new Error(`no schema for ${document.apiVersion} ${document.kind}`);
      new Model(document).validate();
    } catch (error) {
      failed += 1;
      console.log(`${document.kind}/${document.metadata?.name}: ${error.message}`);
    }
  }
  process.exit(failed ? 1 : 0);
});
