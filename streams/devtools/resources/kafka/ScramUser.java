// Creates or changes a SCRAM user on a running broker (what kafka-configs --alter
// --add-config 'SCRAM-SHA-512=[password=...]' does), with the broker's own client jar.
// Run by `pulse dev kafka scram-user` as a single-file Java program:
//   java -cp 'libs/*' ScramUser.java BOOTSTRAP USER MECHANISM   (password on stdin)
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;

public class ScramUser {
    public static void main(String[] args) throws Exception {
        String password = new BufferedReader(new InputStreamReader(System.in)).readLine();
        Properties properties = new Properties();
        properties.put("bootstrap.servers", args[0]);
        try (Admin admin = Admin.create(properties)) {
            ScramCredentialInfo info = new ScramCredentialInfo(ScramMechanism.fromMechanismName(args[2]), 8192);
            admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(args[1], info, password)))
                 .all().get();
        }
    }
}
