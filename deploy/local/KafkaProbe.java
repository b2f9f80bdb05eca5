// KafkaProbe waits until a Kafka broker serves cluster metadata with at least
// one live broker. It is run by deploy/local/kafka.sh with Java's source-file
// launcher against the broker's own classpath (kafka-clients):
//
//   java -cp 'libs/*' KafkaProbe.java 127.0.0.1:9092 60
//
// Exit status 0 when ready (prints the cluster id and broker count), 1 on timeout.
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;

public class KafkaProbe {
    public static void main(String[] args) throws Exception {
        String bootstrap = args.length > 0 ? args[0] : "127.0.0.1:9092";
        long seconds = args.length > 1 ? Long.parseLong(args[1]) : 60;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "3000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "5000");
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        String last = "no attempt";
        try (Admin admin = Admin.create(p)) {
            while (System.nanoTime() < deadline) {
                try {
                    DescribeClusterResult r = admin.describeCluster();
                    int n = r.nodes().get(5, TimeUnit.SECONDS).size();
                    String id = r.clusterId().get(5, TimeUnit.SECONDS);
                    if (n > 0 && r.controller().get(5, TimeUnit.SECONDS) != null) {
                        System.out.println("cluster " + id + ": " + n + " broker(s) at " + bootstrap);
                        return;
                    }
                    last = "no live brokers in metadata";
                } catch (Exception e) {
                    last = e.toString();
                }
                Thread.sleep(500);
            }
        }
        System.err.println("KafkaProbe: " + bootstrap + " not ready after " + seconds + "s: " + last);
        System.exit(1);
    }
}
