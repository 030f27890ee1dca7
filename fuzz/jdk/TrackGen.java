import java.io.*;
import java.util.*;

// Writes track messages exactly as lavaplayer's DefaultAudioPlayerManager.encodeTrack does
// (MessageOutput framing, DataOutputStream.writeUTF), for random strings; one line each:
// base64 TAB version TAB field code points...
public class TrackGen {
    static Random rnd;
    static String randomString() {
        StringBuilder sb = new StringBuilder();
        int n = rnd.nextInt(12);
        for (int i = 0; i < n; i++) {
            int kind = rnd.nextInt(6);
            int cp;
            switch (kind) {
                case 0: cp = 0; break;
                case 1: cp = 0x20 + rnd.nextInt(0x5f); break;
                case 2: cp = 0x80 + rnd.nextInt(0x780); break;
                case 3: do { cp = 0x800 + rnd.nextInt(0xF800); } while (cp >= 0xD800 && cp <= 0xDFFF); break;
                case 4: cp = 0x10000 + rnd.nextInt(0x100000); break;
                default: cp = 1 + rnd.nextInt(0x7f); break;
            }
            sb.appendCodePoint(cp);
        }
        return sb.toString();
    }
    static void nullable(DataOutput out, String s) throws IOException {
        out.writeBoolean(s != null);
        if (s != null) out.writeUTF(s);
    }
    static String cps(String s) {
        if (s == null) return "-";
        StringBuilder sb = new StringBuilder("[");
        s.codePoints().forEach(c -> sb.append(Integer.toHexString(c)).append(' '));
        return sb.append("]").toString();
    }
    public static void main(String[] args) throws IOException {
        rnd = new Random(Long.parseLong(args[1]));
        int count = Integer.parseInt(args[0]);
        for (int k = 0; k < count; k++) {
            int version = 1 + rnd.nextInt(3);
            String title = randomString(), author = randomString(), identifier = randomString(), source = randomString();
            String uri = version >= 2 && rnd.nextBoolean() ? randomString() : null;
            String art = version >= 3 && rnd.nextBoolean() ? randomString() : null;
            String isrc = version >= 3 && rnd.nextBoolean() ? randomString() : null;
            long length = rnd.nextBoolean() ? Long.MAX_VALUE : (rnd.nextLong() >>> 1);
            long position = rnd.nextLong() >>> 1;
            boolean stream = rnd.nextBoolean();
            byte[] extra = new byte[rnd.nextInt(10)];
            rnd.nextBytes(extra);

            ByteArrayOutputStream body = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(body);
            if (version >= 2) out.write(version);
            out.writeUTF(title); out.writeUTF(author); out.writeLong(length); out.writeUTF(identifier);
            out.writeBoolean(stream);
            if (version >= 2) nullable(out, uri);
            if (version >= 3) { nullable(out, art); nullable(out, isrc); }
            out.writeUTF(source);
            out.write(extra);
            out.writeLong(position);
            out.flush();
            byte[] b = body.toByteArray();
            ByteArrayOutputStream msg = new ByteArrayOutputStream();
            DataOutputStream m = new DataOutputStream(msg);
            int flags = version >= 2 ? 1 : 0;
            m.writeInt(b.length | (flags << 30));
            m.write(b);
            m.flush();
            String b64 = Base64.getEncoder().encodeToString(msg.toByteArray());
            StringBuilder ex = new StringBuilder();
            for (byte x : extra) ex.append(String.format("%02x", x));
            System.out.println(String.join("\t", b64, "" + version, cps(title), cps(author), "" + length, cps(identifier),
                "" + stream, cps(uri), cps(art), cps(isrc), cps(source), ex.toString(), "" + position));
        }
    }
}
