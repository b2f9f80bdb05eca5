// KafkaUsers sets (creates or replaces) a user's SCRAM-SHA-256 and
// SCRAM-SHA-512 credentials through the Admin API. It is run by
// deploy/local/kafka.sh with Java's source-file launcher against the
// broker's own classpath, over the PLAINTEXT listener:
//
//   java -cp 'libs/*' KafkaUsers.java 127.0.0.1:9092 tether /path/to/password-file
//
// The password is read from the file (first line), never from the command
// line. Exit status 0 when both credentials are set.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;

public class KafkaUsers {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: KafkaUsers <bootstrap> <user> <password-file>");
            System.exit(2);
        }
        String password = Files.readString(Path.of(args[2]), StandardCharsets.UTF_8).strip();
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        try (Admin admin = Admin.create(p)) {
            // One request per mechanism: a request may alter a user once.
            for (ScramMechanism m : List.of(ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)) {
                admin.alterUserScramCredentials(List.of(
                    new UserScramCredentialUpsertion(args[1], new ScramCredentialInfo(m, 8192), password)
                )).all().get(30, TimeUnit.SECONDS);
            }
            // Wait until the broker's metadata serves both credentials, so
            // that a client authenticating right after start-up succeeds.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            int have = 0;
            while (System.nanoTime() < deadline) {
                try {
                    have = admin.describeUserScramCredentials(List.of(args[1])).description(args[1])
                        .get(5, TimeUnit.SECONDS).credentialInfos().size();
                } catch (Exception e) {
                    have = 0;
                }
                if (have >= 2) {
                    break;
                }
                Thread.sleep(200);
            }
            if (have < 2) {
                System.err.println("KafkaUsers: the broker lists " + have + " of 2 SCRAM credentials for " + args[1] + " after 30s");
                System.exit(1);
            }
        }
        System.out.println("SCRAM-SHA-256 and SCRAM-SHA-512 credentials set for user " + args[1]);
    }
}
