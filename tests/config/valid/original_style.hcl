# Written the way the original Go/.NET DStream's files were: unchanged here.
task "counter-to-console" {
  type = "providers"
  lock_config = { type = "none" }

  input {
    provider_ref = "ghcr.io/katasec/dstream-counter-input-provider:v0.3.0"
    config {
      interval = 1000
      maxCount = 5
      connectionString = "{{ env `ORIGINAL_CONN` }}"
      ingest_queue {
        type = "azure_service_bus"
        name = "dstream-ingest"
      }
    }
  }

  output {
    provider_path = "./out/dstream-console-output-provider"
    config {
      outputFormat = "simple"
    }
  }
}
